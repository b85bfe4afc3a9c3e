"""The case file side of a complaint: events with labels, and loading a case inside a transaction.

Every change of a case's status or clock is a ``complaint_event`` row (who, when, details) and an audit
event on the stream ``complaint:<case_no>`` (hash-chained, docs/domain.md §1.7 documentation and archives).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.complaints.models import Complaint, ComplaintEvent

PROCESS_KEY = "complaint_handling"
_AUDIT_HEADS = "careflow.complaint.audit_heads"

# kind -> (zh, en)
EVENT_LABELS: dict[str, tuple[str, str]] = {
    "received": ("已受理", "Received"),
    "acknowledged": ("已告知受理", "Acknowledged"),
    "triaged": ("已分派", "Triaged"),
    "investigating": ("调查处理中", "Investigating"),
    "investigated": ("调查完成", "Investigation done"),
    "extended": ("延长处理期限", "Deadline extended"),
    "paused": ("外部鉴定，暂停计时", "Clock paused for an outside appraisal"),
    "resumed": ("恢复计时", "Clock resumed"),
    "new_facts": ("新事实，重新计时", "New facts: clock restarted"),
    "awaiting_approval": ("待主管审批答复", "Answer awaiting approval"),
    "returned": ("主管退回，重新调查", "Sent back by the approver: investigate again"),
    "answered": ("已答复客户", "Answer sent"),
    "rated": ("客户评价", "Customer rating"),
    "reopened": ("客户不满意，主管复查", "Negative rating: reopened to a supervisor"),
    "reopen_decided": ("复查决定", "Reopen decision"),
    "review_requested": ("客户申请核查", "Review requested"),
    "reviewed": ("核查完成", "Review decided"),
    "merged": ("重复投诉并案处理", "Repeat complaint merged"),
    "withdrawn": ("客户撤回投诉", "Withdrawn"),
    "closed": ("办结", "Closed"),
    "sla_warning": ("临近处理期限", "Deadline approaching"),
    "sla_breached": ("已超过处理期限", "Deadline passed"),
}


def load_case(session: Session, case_no: str, *, lock: bool = False) -> Complaint | None:
    """The case with this number, from this session's identity map first (a case added in this transaction)."""
    for obj in session.identity_map.values():
        if isinstance(obj, Complaint) and obj.case_no == case_no:
            return obj
    stmt = select(Complaint).where(Complaint.case_no == case_no)
    return session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()


def case_for_instance(session: Session, instance_id: uuid.UUID) -> Complaint | None:
    for obj in (*session.new, *session.identity_map.values()):  # this step's case may not be flushed yet
        if isinstance(obj, Complaint) and obj.instance_id == instance_id:
            return obj
    return session.scalars(select(Complaint).where(Complaint.instance_id == instance_id)).one_or_none()


def record_event(session: Session, case: Complaint, kind: str, *, at: datetime, actor: str,
                 details: dict[str, Any] | None = None) -> ComplaintEvent:
    """Add one event to the case and the audit trail (caller commits); ``case`` must have its id."""
    if kind not in EVENT_LABELS:
        raise ValueError(f"unknown complaint event {kind!r}")
    body = {k: v for k, v in (details or {}).items() if v is not None}
    row = ComplaintEvent(complaint_id=case.id, kind=kind, at=at, actor=actor, details=body)
    session.add(row)
    case.updated_at = at
    # Several events of one case can be pending in one transaction (nothing is flushed in between), so the
    # chain head is carried here rather than looked up each time.
    heads: dict[str, str] = session.info.setdefault(_AUDIT_HEADS, {})
    stream = f"complaint:{case.case_no}"
    heads[stream] = audit.append(session, stream=stream, actor=actor, action=f"complaint.{kind}",
                                 subject_type="complaint", subject_id=case.case_no, at=at,
                                 after={"status": case.status, **body}, prev_hash=heads.get(stream))
    return row
