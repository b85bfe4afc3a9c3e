"""A member of staff's notifications (the header's bell and ``/api/v1/notifications``): list, count, mark read.

The engine writes them where the events happen (engine.notify): a task routed, assigned or delegated to someone,
an approval task waiting for its approvers, an SLA warning and a breach (engine.services.sla). Each person sees
and marks only their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.db.worklist import StaffNotification
from engine.errors import InvalidInputError
from engine.services.authz import require_any_role
from engine.views import Actor

MAX_LIMIT = 100


@dataclass(frozen=True)
class NotificationView:
    id: int
    kind: str
    title: str
    task_id: str | None
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class NotificationPage:
    items: list[NotificationView]
    unread: int


def list_notifications(ctx: EngineContext, *, actor: Actor, unread_only: bool = False,
                       limit: int = 20) -> NotificationPage:
    """The actor's newest notifications and how many are unread."""
    require_any_role(actor)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    stmt = select(StaffNotification).where(StaffNotification.recipient == actor.username)
    if unread_only:
        stmt = stmt.where(StaffNotification.read_at.is_(None))
    with unit_of_work(ctx.sessions, write=False) as session:
        found = session.scalars(stmt.order_by(StaffNotification.id.desc()).limit(limit)).all()
        items = [NotificationView(n.id, n.kind, n.title, str(n.task_id) if n.task_id else None, n.created_at,
                                  n.read_at) for n in found]
    return NotificationPage(items, unread_count(ctx, actor=actor))


def unread_count(ctx: EngineContext, *, actor: Actor) -> int:
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        return int(session.scalar(select(func.count()).select_from(StaffNotification).where(
            StaffNotification.recipient == actor.username, StaffNotification.read_at.is_(None))) or 0)


def mark_read(ctx: EngineContext, *, actor: Actor, ids: list[int] | None = None, task_id: str | None = None) -> int:
    """Mark the actor's notifications read: these ids, those of one task, or (neither given) all. Returns how many
    changed. Someone else's notification is never touched (it is simply not found among the actor's)."""
    require_any_role(actor)
    stmt = update(StaffNotification).where(StaffNotification.recipient == actor.username,
                                           StaffNotification.read_at.is_(None))
    if ids is not None:
        if len(ids) > MAX_LIMIT or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InvalidInputError(f"ids must be a list of at most {MAX_LIMIT} notification ids")
        stmt = stmt.where(StaffNotification.id.in_(ids))
    if task_id is not None:
        try:
            stmt = stmt.where(StaffNotification.task_id == uuid.UUID(task_id))
        except ValueError as exc:
            raise InvalidInputError("task_id is not a task id") from exc
    with unit_of_work(ctx.sessions) as session:
        result = session.execute(stmt.values(read_at=ctx.clock.now()).execution_options(synchronize_session=False))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
