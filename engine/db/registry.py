"""Every table module, imported once so ``Base.metadata`` is complete: the composition root of the schema.

``engine.db.models`` holds the workflow engine's own tables; each feature package keeps its tables in its own
``models.py`` (and ``*_models.py``). Whoever needs the whole schema imports this module: ``build_engine`` (the
unit of work orders inserts by foreign keys across features), the Alembic environment, ``engine.db.migrate``
and the tests' truncation. It is the one engine-core module allowed to import the features' table modules
(the import-linter contract "Engine core does not import the bank's features" lists it as the exception).
"""

from __future__ import annotations

from engine.care import models as care  # noqa: F401
from engine.complaints import intake_models, portal_models  # noqa: F401
from engine.complaints import models as complaints  # noqa: F401
from engine.customers import accounts_models  # noqa: F401
from engine.customers import models as customers  # noqa: F401
from engine.db import (  # noqa: F401
    auth_state,
    authz,
    calendar,
    casefile,
    designer,
    history,
    models,
    retention,
    scheduling,
    search,
    worklist,
)
from engine.db.base import Base
from engine.dsr import models as dsr  # noqa: F401
from engine.outbox import models as outbox  # noqa: F401
from engine.prediction import models as prediction  # noqa: F401
from engine.reporting import models as reporting  # noqa: F401
from engine.sales import models as sales  # noqa: F401

metadata = Base.metadata
