"""What a supervisor watches: workload per person, overdue work, failed instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from engine.context import EngineContext
from engine.db.models import HumanTask, HumanTaskStatus, InstanceStatus, ProcessInstance
from engine.db.session import unit_of_work
from engine.services.authz import require_role
from engine.views import Actor


@dataclass(frozen=True)
class Workload:
    assignee: str | None  # None: open in a queue, nobody has it
    open: int
    overdue: int


@dataclass(frozen=True)
class FailedInstance:
    id: str
    process_key: str
    business_key: str | None
    customer_id: str | None
    error_task: str | None
    error_message: str | None
    updated_at: datetime | None
    phase: str = "run"  # run: a step of the process failed; store: the step could not be stored (engine.runtime.step)
    error_type: str | None = None
    line: int | None = None


def workload(ctx: EngineContext, *, actor: Actor) -> list[Workload]:
    """Open tasks and overdue ones per assignee (and unassigned), most overdue first."""
    require_role(actor, "supervisor")
    now = ctx.clock.now()
    overdue = func.sum(case((HumanTask.due_at < now, 1), else_=0))
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.execute(
            select(HumanTask.assignee, func.count(), overdue)
            .where(HumanTask.status.in_([HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value]))
            .group_by(HumanTask.assignee)
        ).all()
    loads = [Workload(assignee, int(count), int(late or 0)) for assignee, count, late in rows]
    return sorted(loads, key=lambda w: (-w.overdue, -w.open, w.assignee or ""))


def failed_instances(ctx: EngineContext, *, actor: Actor, limit: int = 50) -> list[FailedInstance]:
    require_role(actor, "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(
            select(ProcessInstance).where(ProcessInstance.status == InstanceStatus.ERROR.value)
            .order_by(ProcessInstance.updated_at.desc()).limit(limit)
        ).all()
        return [FailedInstance(str(r.id), r.process_key, r.business_key, r.customer_id, r.error_task, r.error_message,
                               r.updated_at, (r.error_details or {}).get("phase") or "run",
                               (r.error_details or {}).get("error_type"), (r.error_details or {}).get("line"))
                for r in rows]
