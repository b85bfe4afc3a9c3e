"""Supervisors' view of the outbox: what waits, what failed (the dead letters), and a manual retry."""

from __future__ import annotations

from sqlalchemy import select

from engine import audit
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, InvalidTransitionError, NotFoundError
from engine.outbox.models import OutboxMessage, OutboxStatus
from engine.services.authz import require_role
from engine.views import Actor, OutboxView

STATUSES = tuple(s.value for s in OutboxStatus)


def _view(row: OutboxMessage) -> OutboxView:
    return OutboxView(
        id=row.id, idempotency_key=row.idempotency_key, instance_id=str(row.instance_id) if row.instance_id else None,
        customer_id=row.customer_id, channel=row.channel, purpose=row.purpose, template=row.template, status=row.status,
        reason=row.status_reason, attempts=row.attempts, last_error=row.last_error, created_at=row.created_at,
        next_attempt_at=row.next_attempt_at, finished_at=row.finished_at,
    )


def list_messages(ctx: EngineContext, *, actor: Actor, status: str = "dead", limit: int = 50,
                  before_id: int | None = None) -> list[OutboxView]:
    """Messages in one status, newest first (keyset by id). Supervisors only; no contact data is shown."""
    require_role(actor, "supervisor")
    if status not in STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
    with unit_of_work(ctx.sessions, write=False) as session:
        stmt = select(OutboxMessage).where(OutboxMessage.status == status)
        if before_id is not None:
            stmt = stmt.where(OutboxMessage.id < before_id)
        rows = session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 200))))
        return [_view(row) for row in rows]


def retry_message(ctx: EngineContext, message_id: int, *, actor: Actor) -> OutboxView:
    """Put a dead letter back in the queue with a fresh set of attempts (policy is checked again at send)."""
    require_role(actor, "supervisor")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(OutboxMessage, message_id, with_for_update=True)
        if row is None:
            raise NotFoundError(f"no outbox message {message_id}")
        if row.status != OutboxStatus.DEAD.value:
            raise InvalidTransitionError("only a dead letter can be retried", subject=str(message_id), state=row.status,
                                         action="retry")
        row.status, row.status_reason, row.attempts = OutboxStatus.PENDING.value, "manual_retry", 0
        row.next_attempt_at, row.finished_at = now, None
        audit.append(session, stream=f"outbox:{message_id}", actor=actor.username, action="outbox.retried",
                     subject_type="outbox", subject_id=str(message_id), at=now, after={"key": row.idempotency_key})
        return _view(row)


def release_messages(ctx: EngineContext, message_ids: list[int] | None, *, actor: Actor) -> int:
    """Send held messages after all (held by a restore: engine.backup), each given id or, with None, every held one.

    The supervisor checked with the channel's delivery reports that they were not sent before the failure. Each
    release is audited; a message that is not held is refused, and nothing is released."""
    require_role(actor, "supervisor")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        stmt = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.HELD.value)
        if message_ids is not None:
            stmt = select(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
        rows = list(session.scalars(stmt.order_by(OutboxMessage.id).with_for_update()))
        if message_ids is not None:
            found = {row.id for row in rows}
            missing = [str(i) for i in message_ids if i not in found]
            if missing:
                raise NotFoundError(f"no outbox message {', '.join(missing)}")
        for row in rows:
            if row.status != OutboxStatus.HELD.value:
                raise InvalidTransitionError("only a held message can be released", subject=str(row.id),
                                             state=row.status, action="release")
            row.status, row.status_reason, row.next_attempt_at = OutboxStatus.PENDING.value, "released", now
            audit.append(session, stream=f"outbox:{row.id}", actor=actor.username, action="outbox.released",
                         subject_type="outbox", subject_id=str(row.id), at=now, after={"key": row.idempotency_key})
        return len(rows)
