"""Running Alembic migrations from code (CLI, tests, start-up)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from engine.db import registry  # noqa: F401  (every table, for compare_metadata)
from engine.db.base import Base

if TYPE_CHECKING:
    from engine.privacy import Keyring

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head", *, keyring: Keyring | None = None) -> None:
    """Bring the database schema up to ``revision`` (default: the newest). Revisions that rewrite personal data
    (0020 encrypts names and birth dates) need the ``keyring`` when the tables hold rows."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["keyring"] = keyring
        command.upgrade(config, revision)


def heads(engine: Engine) -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The migration heads this code ships, read once per process (the scripts do not change while it runs)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Not the job queue's own tables (procrastinate_*, migration 0029): its schema is procrastinate's."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def schema_drift(engine: Engine) -> list[object]:
    """Differences between the migrated database and the models (must be empty)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": _ours})
        return list(compare_metadata(context, Base.metadata))
