"""Firing due timers: one small sweep function, called by the scheduler, the CLI and tests."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from engine.clock import FrozenClock, as_utc
from engine.context import EngineContext
from engine.db.models import InstanceStatus, ProcessInstance, Timer, TimerStatus
from engine.db.session import unit_of_work
from engine.runtime import step as steps
from engine.views import TimerSweep

log = logging.getLogger(__name__)


def fire_due_timers(ctx: EngineContext, *, now: datetime | None = None, limit: int | None = None) -> TimerSweep:
    """Wake every running instance with a timer due at or before ``now`` (default: the clock).

    Each instance is handled in its own transaction; on PostgreSQL an instance another
    sweeper holds is skipped (``SKIP LOCKED``), so parallel schedulers never fire a timer
    twice. A failure is recorded on the timer rows and the sweep goes on. Returns counts.
    """
    moment = as_utc(now) if now is not None else ctx.clock.now()
    batch = limit or ctx.settings.scheduler.timer_batch_size
    fired, failed, seen = 0, 0, []
    skipped: set[uuid.UUID] = set()
    while True:
        ids = _due_instances(ctx, moment, batch, skipped)
        if not ids:
            break
        for instance_id in ids:
            try:
                if _wake(ctx, instance_id, moment):
                    fired += 1
                    seen.append(str(instance_id))
                else:
                    skipped.add(instance_id)
            except Exception as exc:  # keep sweeping: one broken instance must not stop the others
                log.exception("timer sweep failed for instance %s", instance_id)
                _record_failure(ctx, instance_id, moment, exc)
                skipped.add(instance_id)
                failed += 1
        if len(ids) < batch:
            break
    return TimerSweep(fired, failed, tuple(seen))


def _due_instances(ctx: EngineContext, moment: datetime, batch: int, skipped: set[uuid.UUID]) -> list[uuid.UUID]:
    with unit_of_work(ctx.sessions, write=False) as session:
        stmt = (
            select(Timer.instance_id, func.min(Timer.due_at).label("due"))
            .join(ProcessInstance, ProcessInstance.id == Timer.instance_id)
            .where(Timer.status == TimerStatus.PENDING.value, Timer.due_at <= moment,
                   ProcessInstance.status == InstanceStatus.RUNNING.value)
            .group_by(Timer.instance_id)
            .order_by("due")
            .limit(batch + len(skipped))
        )
        return [row[0] for row in session.execute(stmt) if row[0] not in skipped][:batch]


def _wake(ctx: EngineContext, instance_id: uuid.UUID, moment: datetime) -> bool:
    """Fire the instance's due timers (False: not running, held by another sweeper, or nothing due any more)."""

    def act(step: steps.Step) -> bool:
        if step.instance.status != InstanceStatus.RUNNING.value:
            return False
        assert step.session is not None
        due = step.session.scalars(
            select(Timer.name).where(Timer.instance_id == instance_id, Timer.status == TimerStatus.PENDING.value,
                                     Timer.due_at <= moment)
        ).all()
        if not due:
            return False  # another sweeper fired them between our query and our read
        step.fire_timers()
        step.audit("timer.fired", actor="system",
                   after={"timers": sorted(due), "failed": step.failure.message if step.failure else None})
        return True

    return bool(steps.unless_busy(ctx, instance_id, act, clock=FrozenClock(moment)))


def _record_failure(ctx: EngineContext, instance_id: uuid.UUID, moment: datetime, exc: Exception) -> None:
    with unit_of_work(ctx.sessions) as session:
        session.execute(
            update(Timer)
            .where(Timer.instance_id == instance_id, Timer.status == TimerStatus.PENDING.value, Timer.due_at <= moment)
            .values(attempts=Timer.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        )
