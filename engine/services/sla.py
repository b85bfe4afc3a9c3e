"""Task SLAs: breaches flagged (and kept) when the due time passes, pauses that stop the clock, the board.

Due times come from the task's ``dueIn`` / ``dueInWorkdays`` (business calendar) when the task is
created; the warning time is ``settings.sla.warn_share`` of the way there. The sweep marks a breach
once, at the due time, raises the task's priority so it tops every queue, and records it on the
task's audit stream; the flag stays even if the task is later paused, reassigned or completed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import Session

from engine import audit, notify
from engine.clock import as_utc
from engine.context import EngineContext
from engine.db.models import HumanTask, TaskRecord
from engine.db.session import unit_of_work
from engine.db.worklist import StaffNotification
from engine.errors import InvalidTransitionError, PermissionDeniedError, TaskNotFoundError
from engine.runtime import rows
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role, require_role
from engine.services.instances import parse_id
from engine.services.taskviews import task_view
from engine.views import Actor, TaskView

ESCALATED_PRIORITY = 90


@dataclass(frozen=True)
class SlaRow:
    process_key: str
    open: int
    warning: int
    breached: int
    paused: int


def sweep_breaches(ctx: EngineContext, *, now: datetime | None = None, batch: int = 500) -> int:
    """Flag every open task whose due time has passed (not paused, not yet flagged). Returns how many."""
    moment = as_utc(now) if now is not None else ctx.clock.now()
    flagged = 0
    while True:
        with unit_of_work(ctx.sessions) as session:
            found = session.execute(
                select(HumanTask.__table__).where(HumanTask.status.in_(OPEN_STATES), HumanTask.due_at <= moment,
                                                  HumanTask.sla_breached_at.is_(None), HumanTask.sla_paused_at.is_(None))
                .order_by(HumanTask.due_at).limit(batch).with_for_update(skip_locked=True)
            ).mappings().all()
            for task in (TaskRecord(**row) for row in found):
                rows.flag_breach(session, task.id, ESCALATED_PRIORITY)
                audit.append(session, stream=f"task:{task.id}", actor="system", action="sla.breached",
                             subject_type="task", subject_id=str(task.id), at=moment,
                             after={"due_at": task.due_at.isoformat() if task.due_at else None,
                                    "assignee": task.assignee})
                notify.notify(session, _responsible(session, task), kind="sla_breached", title=task.title, at=moment,
                              task_id=task.id, dedupe=f"sla_breached:{task.id}")
            flagged += len(found)
        if len(found) < batch:
            notify_warnings(ctx, now=moment, batch=batch)
            return flagged


WARNING_LOOKBACK = timedelta(days=2)  # a warning older than this (scheduler down for days) is not told late


def notify_warnings(ctx: EngineContext, *, now: datetime | None = None, batch: int = 500) -> int:
    """Tell the people responsible for each open task that entered its SLA warning (and is neither breached nor
    paused) since WARNING_LOOKBACK; once per task and person. Runs with the breach sweep. Returns how many tasks."""
    moment = as_utc(now) if now is not None else ctx.clock.now()
    told = exists().where(StaffNotification.task_id == HumanTask.id, StaffNotification.kind == "sla_warning")
    with unit_of_work(ctx.sessions) as session:
        found = session.execute(
            select(HumanTask.__table__).where(
                HumanTask.status.in_(OPEN_STATES), HumanTask.sla_warn_at <= moment,
                HumanTask.sla_warn_at > moment - WARNING_LOOKBACK, HumanTask.sla_breached_at.is_(None),
                HumanTask.sla_paused_at.is_(None), ~told)
            .order_by(HumanTask.sla_warn_at).limit(batch)
        ).mappings().all()
        for task in (TaskRecord(**row) for row in found):
            notify.notify(session, _responsible(session, task), kind="sla_warning", title=task.title, at=moment,
                          task_id=task.id, dedupe=f"sla_warning:{task.id}")
    return len(found)


def _responsible(session: Session, task: TaskRecord) -> list[str]:
    """Who hears of a task's SLA: its assignee; an unclaimed task's named candidates and its groups' supervisors."""
    if task.assignee:
        return [task.assignee]
    return sorted(set(task.user_names) | set(notify.members(session, task.group_names, role="supervisor")))


def next_due(ctx: EngineContext, after: datetime) -> datetime | None:
    with unit_of_work(ctx.sessions, write=False) as session:
        due = session.scalar(select(func.min(HumanTask.due_at)).where(
            HumanTask.status.in_(OPEN_STATES), HumanTask.due_at > after, HumanTask.sla_breached_at.is_(None)))
    return as_utc(due) if due is not None else None


def _lock_for_sla(session: Session, task_id: uuid.UUID, actor: Actor) -> TaskRecord:
    row = rows.lock_task(session, task_id)
    if row is None:
        raise TaskNotFoundError(f"no task {task_id}")
    if not (actor.is_supervisor or row.assignee == actor.username):
        raise PermissionDeniedError("only the assignee or a supervisor may pause or resume the SLA")
    if row.status not in OPEN_STATES:
        raise InvalidTransitionError("the task is not open", subject=str(task_id), state=row.status, action="pause")
    return row


def pause_sla(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, reason: str) -> TaskView:
    """Stop the task's SLA clock (e.g. waiting for the customer's documents); ``reason`` is audited."""
    require_any_role(actor)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = _lock_for_sla(session, parse_id(task_id, "task"), actor)
        if row.sla_paused_at is not None:
            raise InvalidTransitionError("the SLA is already paused", subject=str(row.id), state="paused", action="pause")
        row.sla_paused_at = now
        rows.write_sla(session, row)
        audit.append(session, stream=f"task:{row.id}", actor=actor.username, action="sla.paused", subject_type="task",
                     subject_id=str(row.id), at=now, after={"reason": reason})
        return task_view(row, actor)


def resume_sla(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> TaskView:
    """Restart the clock: the due and warning times move on by the length of the pause."""
    require_any_role(actor)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = _lock_for_sla(session, parse_id(task_id, "task"), actor)
        if row.sla_paused_at is None:
            raise InvalidTransitionError("the SLA is not paused", subject=str(row.id), state="running", action="resume")
        paused_for = now - row.sla_paused_at
        row.due_at = row.due_at + paused_for if row.due_at else None
        row.sla_warn_at = row.sla_warn_at + paused_for if row.sla_warn_at else None
        row.sla_paused_at = None
        rows.write_sla(session, row)
        audit.append(session, stream=f"task:{row.id}", actor=actor.username, action="sla.resumed", subject_type="task",
                     subject_id=str(row.id), at=now, after={"paused_seconds": int(paused_for.total_seconds())})
        return task_view(row, actor)


def sla_board(ctx: EngineContext, *, actor: Actor) -> list[SlaRow]:
    """Open tasks per process: in warning, breached (flag kept), paused."""
    require_role(actor, "supervisor")
    now = ctx.clock.now()
    count = func.count

    def flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.execute(
            select(HumanTask.process_key, count(),
                   flag((HumanTask.sla_warn_at <= now) & HumanTask.sla_breached_at.is_(None)),
                   flag(HumanTask.sla_breached_at.is_not(None)), flag(HumanTask.sla_paused_at.is_not(None)))
            .where(HumanTask.status.in_(OPEN_STATES)).group_by(HumanTask.process_key).order_by(HumanTask.process_key)
        ).all()
    return [SlaRow(key, int(total), int(warn or 0), int(breached or 0), int(paused or 0))
            for key, total, warn, breached, paused in rows]
