"""A process version's life after deployment: suspended (starts no new instances; the running ones go on), retired
(also hidden from the start lists; only once none of its instances is live) and resumed.

Designers and administrators change it (the ``deploy`` grant on the process); each change is audited on the
process's stream ``definition:<key>``. Starting an instance asks ``definitions.startable_version``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.context import EngineContext
from engine.db.models import ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import ConflictError, InvalidInputError
from engine.services.authz import require_role
from engine.services.definitions import _view, find_definition
from engine.views import Actor, DefinitionView

ACTIVE, SUSPENDED, RETIRED = "active", "suspended", "retired"
STATUSES = (ACTIVE, SUSPENDED, RETIRED)
LIVE = ("running", "error")
_ACTIONS = {SUSPENDED: "definition.suspended", RETIRED: "definition.retired", ACTIVE: "definition.resumed"}


def live_instances(session: Session, definition_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.definition_id == definition_id, ProcessInstance.status.in_(LIVE))) or 0)


def set_status(ctx: EngineContext, key: str, version: int, status: str, *, actor: Actor) -> DefinitionView:
    """Suspend, retire or resume (``active``) one version. Retiring a version with live instances is refused
    (ConflictError with their number). Raises DefinitionNotFoundError, InvalidInputError, PermissionDeniedError."""
    require_role(actor, "designer")
    if status not in STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}", details={"field": "status"})
    authz.require(ctx, actor, "deploy", "process", key)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = find_definition(session, key, version)
        session.refresh(row, with_for_update=True)
        before = row.status or ACTIVE
        if status == RETIRED:
            live = live_instances(session, row.id)
            if live:
                raise ConflictError(f"{key} v{version} still has {live} live instance(s): suspend it, let them end "
                                    "(or migrate them) and retire it then", details={"live_instances": live})
        if before != status:
            row.status = status
            audit.append(session, stream=f"definition:{key}", actor=actor.username, action=_ACTIONS[status],
                         subject_type="definition", subject_id=f"{key}:{version}", at=now,
                         before={"status": before}, after={"status": status})
        session.flush()
        return _view(row)


def suspend(ctx: EngineContext, key: str, version: int, *, actor: Actor) -> DefinitionView:
    return set_status(ctx, key, version, SUSPENDED, actor=actor)


def retire(ctx: EngineContext, key: str, version: int, *, actor: Actor) -> DefinitionView:
    return set_status(ctx, key, version, RETIRED, actor=actor)


def resume(ctx: EngineContext, key: str, version: int, *, actor: Actor) -> DefinitionView:
    return set_status(ctx, key, version, ACTIVE, actor=actor)
