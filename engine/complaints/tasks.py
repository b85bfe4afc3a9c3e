"""Complaint tasks are due when the case is: the SLA follows the legal clock, not a fixed duration.

``dueIn`` is a fixed duration from the task's creation, but a complaint's decision is due 15 calendar
days from receipt, 30 or 60 when extended, later by the days of an appraisal pause, and again from
the start when new facts arrive (docs/domain.md §1.4). So when the runtime creates a ``complaint_handling``
task row, this hook (one of the engine context's ``task_shapers``) sets its SLA times from the
case row, which the same step has already brought up to date:

- ``investigate``, ``approve_answer`` and ``approve_extension`` are due at the end of the case's internal
  target day, with the SLA warning from the warning day (day 10 of 15), so the inbox and the supervisors'
  SLA board show the legal clock, and the breach sweep flags it;
- ``review_case`` (核查) is due at the end of the review decision day (30 days from the request);
- ``ack_manually`` (no customer number, so no automatic notice) is due ``complaint_ack_target_workdays``
  working days after receipt (docs/domain.md §0: one business day, good practice).
"""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy.orm import Session

from engine.complaints.deadlines import end_of_day, start_of_day
from engine.complaints.models import Complaint
from engine.complaints.records import PROCESS_KEY, case_for_instance
from engine.config import Settings
from engine.context import EngineContext
from engine.db.models import TaskRecord
from engine.rules.calendar import BusinessCalendar

CASE_CLOCK_TASKS = frozenset({"investigate", "approve_answer", "approve_extension"})
REVIEW_TASK = "review_case"
ACK_TASK = "ack_manually"


def install(ctx: EngineContext) -> None:
    """Register the hook on the engine context (once per context)."""
    settings, calendar = ctx.settings, ctx.calendar

    def shape_new_task(session: Session, task: TaskRecord) -> None:
        if task.process_key == PROCESS_KEY:
            case = case_for_instance(session, task.instance_id)
            if case is not None:
                shape(task, case, settings, calendar)

    ctx.task_shapers.append(shape_new_task)


def shape(task: TaskRecord, case: Complaint, settings: Settings, calendar: BusinessCalendar) -> None:
    """Set a new task's SLA times from its case (see the module docstring)."""
    zone = settings.zone
    lead = timedelta(days=settings.complaints.decision_days_simple - settings.complaints.warn_day)
    if task.task_name in CASE_CLOCK_TASKS:
        task.due_at = end_of_day(case.target_due_on, zone)
        task.sla_warn_at = min(start_of_day(case.warn_on, zone), task.due_at)
    elif task.task_name == REVIEW_TASK and case.review_due_on is not None:
        task.due_at = end_of_day(case.review_due_on, zone)
        task.sla_warn_at = start_of_day(case.review_due_on - lead, zone)
    elif task.task_name == ACK_TASK:
        received = case.received_at.astimezone(zone)
        task.due_at = calendar.add_workdays_at(received, settings.complaints.ack_target_workdays).astimezone(UTC)
        task.sla_warn_at = received.astimezone(UTC) + (task.due_at - received) * settings.sla.warn_share
