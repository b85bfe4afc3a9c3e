"""Case updates that commit with the process step that caused them.

The ``careflow.complaint.*`` service handlers run inside SpiffWorkflow and cannot write; they leave a
:class:`CaseEvent` or :class:`ClockChange` on the call, and the runtime applies it with the step's own
session when it saves the instance (``engine.runtime.effects``). A rule broken at that
point raises a typed error and the whole step — task completion included — rolls back; that is how
the recusal rule is enforced (docs/domain.md §1.3, §1.6: whoever investigated a case never approves its answer,
its special extension or its review).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.complaints.deadlines import end_of_day, local_day, review_due
from engine.complaints.models import Complaint, ComplaintEvent, ComplaintStatus
from engine.complaints.records import load_case, record_event
from engine.config import Settings
from engine.db.models import HumanTask, HumanTaskStatus
from engine.errors import PermissionDeniedError
from engine.rules.calendar import BusinessCalendar
from engine.runtime import four_eyes, rows

WARN_PRIORITY, BREACH_PRIORITY = 70, 90
OPEN_STATES = (HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value)
S = ComplaintStatus


@dataclass(frozen=True)
class Env:
    """What applying an effect needs besides the session: the settings and the business calendar."""

    settings: Settings
    calendar: BusinessCalendar


@dataclass(frozen=True)
class CaseEvent:
    """A status or record change named by the process (``careflow.complaint.record``)."""

    env: Env
    case_no: str
    event: str
    values: dict[str, Any] = field(default_factory=dict)

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        APPLY[self.event](self, session, _own_case(session, self.case_no, instance_id), now)


@dataclass(frozen=True)
class ClockChange:
    """A new clock from ``careflow.complaint.deadline`` (extension, pause, resume, restart on new facts)."""

    env: Env
    case_no: str
    action: str
    clock: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        case = _own_case(session, self.case_no, instance_id)
        if self.action == "extend" and self.clock["extension"] == "special":
            _check_recusal(session, case, "approve_extension", "approve a special extension of")
        before = {"target_on": case.target_due_on.isoformat(), "extension": case.extension}
        set_clock(case, self.clock)
        kind = {"extend": "extended", "pause": "paused", "resume": "resumed", "restart": "new_facts"}[self.action]
        details = {**before, "new_target_on": self.clock["target_on"], "legal_on": self.clock["legal_on"],
                   "new_extension": self.clock["extension"], "paused_days": self.clock["paused_days"],
                   **{k: v for k, v in self.values.items() if k != "by"}}
        record_event(session, case, kind, at=now, actor=str(self.values.get("by") or "system"), details=details)


def _own_case(session: Session, case_no: str, instance_id: uuid.UUID | None) -> Complaint:
    """The case of the instance whose step this is: a process may change its own case and no other."""
    case = load_case(session, case_no, lock=True)
    if case is None:
        raise LookupError(f"no complaint {case_no}")
    if case.instance_id != instance_id:
        raise PermissionDeniedError(f"complaint {case_no} belongs to another process instance; a process changes "
                                    "only its own case", details={"case_no": case_no})
    return case


def _customer_actor(e: CaseEvent) -> tuple[str, dict[str, Any]]:
    """Who did a customer's act, and the evidence when staff recorded it for the customer."""
    recorded = e.values.get("recorded_for_customer")
    if isinstance(recorded, dict) and recorded.get("recorded_by"):
        return str(recorded["recorded_by"]), {"recorded_for_customer": recorded}
    return str(e.values.get("by") or "customer"), {}


def set_clock(case: Complaint, clock: dict[str, Any]) -> None:
    """Copy a clock (``deadlines.clock_data``) onto the case row."""
    case.clock_started_on = date.fromisoformat(clock["started_on"])
    case.extension = clock["extension"]
    case.paused_days = int(clock["paused_days"])
    case.pause_started_at = datetime.fromisoformat(clock["pause_started_at"]) if clock["pause_started_at"] else None
    case.target_due_on = date.fromisoformat(clock["target_on"])
    case.legal_due_on = date.fromisoformat(clock["legal_on"])
    case.warn_on = date.fromisoformat(clock["warn_on"])


def _last_completed(session: Session, instance_id: uuid.UUID | None, task_name: str) -> HumanTask | None:
    """The latest completion of a user task of this instance (flushed by complete_task before the save)."""
    return session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.task_name == task_name,
                                HumanTask.status == HumanTaskStatus.COMPLETED.value)
        .order_by(HumanTask.completed_at.desc()).limit(1)).first()


def _check_recusal(session: Session, case: Complaint, task_name: str, what: str) -> str | None:
    """Refuse (PermissionDeniedError → the completion rolls back) when anyone who investigated the case (in any
    round) did ``task_name``."""
    done = _last_completed(session, case.instance_id, task_name)
    if done is None:
        return None
    handlers = set(four_eyes.all_performers(session, case.instance_id).get("investigate", [])) if case.instance_id \
        else set()
    if case.handler:
        handlers.add(case.handler)
    if done.completed_by in handlers:
        raise PermissionDeniedError(
            f"{done.completed_by} investigated complaint {case.case_no} and may not {what} it "
            "(recusal, docs/domain.md §1.3/§1.6): another supervisor must do this task",
            details={"case_no": case.case_no, "task": task_name})
    return done.completed_by


def _status(case: Complaint, status: ComplaintStatus) -> None:
    case.status = status.value


def _acknowledged(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    if case.status == S.RECEIVED:
        _status(case, S.ACKNOWLEDGED)
    record_event(session, case, "acknowledged", at=now, actor="system",
                 details={"method": e.values.get("method"), "outbox_key": e.values.get("outbox_key")})


def _triaged(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    case.severity = str(e.values.get("severity") or "normal")
    case.routed_group = str(e.values.get("group") or "") or None
    record_event(session, case, "triaged", at=now, actor="system",
                 details={"severity": case.severity, "group": case.routed_group,
                          "needs_approval": bool(e.values.get("needs_approval"))})


def _investigating(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    if case.status == S.AWAITING_APPROVAL:
        # Back from the approval in this very step: the approver said no (new facts restart without one).
        approval = _last_completed(session, case.instance_id, "approve_answer")
        if approval is not None and approval.completed_at == now:
            record_event(session, case, "returned", at=now, actor=approval.completed_by or "system")
    if case.status != S.INVESTIGATING:
        _status(case, S.INVESTIGATING)
        record_event(session, case, "investigating", at=now, actor="system", details={"group": case.routed_group})


def _investigated(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    done = _last_completed(session, case.instance_id, "investigate")
    case.handler = done.completed_by if done else case.handler
    case.decision = str(e.values.get("decision") or "") or None
    record_event(session, case, "investigated", at=now, actor=case.handler or "system",
                 details={"decision": case.decision})


def _awaiting_approval(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    _status(case, S.AWAITING_APPROVAL)
    record_event(session, case, "awaiting_approval", at=now, actor=case.handler or "system")


def _answered(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    approver = None
    if e.values.get("approval_required"):
        approver = _check_recusal(session, case, "approve_answer", "approve the answer to")
    _status(case, S.ANSWERED)
    case.answer = str(e.values.get("answer") or "")
    case.answered_at = now
    case.answer_channel = "auto" if case.customer_id else "manual"
    case.answer_outbox_key = e.values.get("outbox_key")
    case.review_apply_by = date.fromisoformat(e.values["review_apply_by"])
    record_event(session, case, "answered", at=now, actor=case.handler or "system",
                 details={"handler": case.handler, "decision": case.decision, "approved_by": approver,
                          "outbox_key": case.answer_outbox_key,
                          "review_apply_by": e.values["review_apply_by"],
                          "on_time": local_day(now, e.env.settings.zone) <= case.legal_due_on})


def _rated(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    case.satisfaction = int(e.values["score"])
    case.satisfaction_comment = str(e.values.get("comment") or "") or None
    actor, evidence = _customer_actor(e)
    record_event(session, case, "rated", at=now, actor=actor, details={"score": case.satisfaction, **evidence})


def _reopened(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    _status(case, S.REOPENED)
    record_event(session, case, "reopened", at=now, actor="system", details={"score": case.satisfaction})


def _reopen_decided(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    action = str(e.values.get("action") or "maintain")
    done = _last_completed(session, case.instance_id, "reopen_case")
    if action != "reinvestigate":
        _status(case, S.ANSWERED)  # the answer stands; the review window keeps running
    record_event(session, case, "reopen_decided", at=now, actor=done.completed_by if done and done.completed_by
                 else "system", details={"action": action})


def _review_requested(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    _status(case, S.UNDER_REVIEW)
    case.review_requested_at = now
    case.review_reason = str(e.values.get("reason") or "")
    case.review_due_on = review_due(now, e.env.calendar, e.env.settings)
    actor, evidence = _customer_actor(e)
    record_event(session, case, "review_requested", at=now, actor=actor,
                 details={"review_due_on": case.review_due_on.isoformat(), **evidence})


def _reviewed(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    reviewer = _check_recusal(session, case, "review_case", "review")
    record_event(session, case, "reviewed", at=now, actor=reviewer or "system",
                 details={"result": e.values.get("result")})


def _closed(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    if case.review_requested_at is not None:
        reason = "reviewed"
    elif case.satisfaction is not None:
        reason = "satisfied"
    else:
        reason = "review_window_passed"
    _status(case, S.CLOSED)
    case.closed_at = now
    record_event(session, case, "closed", at=now, actor="system", details={"reason": reason})


def _withdrawn(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    _status(case, S.WITHDRAWN)
    case.closed_at = now
    actor, evidence = _customer_actor(e)
    record_event(session, case, "withdrawn", at=now, actor=actor,
                 details={"reason": e.values.get("reason") or None, **evidence})


def _sla_check(e: CaseEvent, session: Session, case: Complaint, now: datetime) -> None:
    """Daily look at the clock: on the warning day raise the open tasks' priority, after the target flag it.

    Paused cases are skipped (the appraisal time does not count). Each warning and breach is recorded
    once per target date, so an extension that moves the target can warn again.
    """
    if case.pause_started_at is not None or case.status not in (S.INVESTIGATING, S.AWAITING_APPROVAL, S.ACKNOWLEDGED):
        return
    zone = e.env.settings.zone
    target = case.target_due_on.isoformat()
    if now > end_of_day(case.target_due_on, zone):
        kind, priority = "sla_breached", BREACH_PRIORITY
    elif local_day(now, zone) >= case.warn_on:
        kind, priority = "sla_warning", WARN_PRIORITY
    else:
        return
    seen = [*session.scalars(select(ComplaintEvent.details).where(ComplaintEvent.complaint_id == case.id,
                                                                  ComplaintEvent.kind == kind)),
            # several daily checks can catch up in one wake-up: this step's events are not flushed yet
            *(o.details for o in session.new if isinstance(o, ComplaintEvent) and o.complaint_id == case.id
              and o.kind == kind)]
    if any(d.get("target_on") == target for d in seen):
        return
    if case.instance_id is not None:
        rows.raise_priority(session, case.instance_id, priority)
    record_event(session, case, kind, at=now, actor="system",
                 details={"target_on": target, "legal_on": case.legal_due_on.isoformat(),
                          "days_left": (case.target_due_on - local_day(now, zone)) // timedelta(days=1)})


APPLY: dict[str, Callable[[CaseEvent, Session, Complaint, datetime], None]] = {
    "acknowledged": _acknowledged, "triaged": _triaged, "investigating": _investigating,
    "investigated": _investigated, "awaiting_approval": _awaiting_approval, "answered": _answered,
    "rated": _rated, "reopened": _reopened, "reopen_decided": _reopen_decided,
    "review_requested": _review_requested, "reviewed": _reviewed, "closed": _closed, "withdrawn": _withdrawn,
    "sla_check": _sla_check,
}
