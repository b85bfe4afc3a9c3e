"""Complaint cases and their clock events (docs/domain.md §1.3 engine record, §1.4 deadlines, §1.7 classification).

A ``complaint`` row is the case file the regulator asks for: receipt time and channel, the JR/T 0169
codes, the complainant (the name is masked in every list; the phone is encrypted with a lookup index),
the request and facts, both deadlines, the extension and pause state, the answer and how it went out,
the customer's rating and any review request. The ``complaint_handling`` process instance does the
work; its service tasks keep this row current in the same transaction as each step. Every event
that moves the clock or the status is a ``complaint_event`` row with who, when and the details.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db.base import Base, BigId
from engine.db.protected import HasProtected, protected_text

if TYPE_CHECKING:
    from engine.db.models import ProcessInstance


class ComplaintStatus(enum.StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    AWAITING_APPROVAL = "awaiting_approval"
    ANSWERED = "answered"  # decision sent; waiting for the rating or a review request
    CLOSED = "closed"
    REOPENED = "reopened"  # a negative rating sent it back to a supervisor
    UNDER_REVIEW = "under_review"  # 核查 by the superior unit (docs/domain.md §1.6)
    WITHDRAWN = "withdrawn"
    MERGED = "merged"  # a repeat without new facts, folded into the open case (merged_into)


# A case in one of these states counts as open: a repeat of it is merged, not a new case.
OPEN_STATUSES = frozenset({ComplaintStatus.RECEIVED, ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.INVESTIGATING,
                           ComplaintStatus.AWAITING_APPROVAL, ComplaintStatus.REOPENED, ComplaintStatus.UNDER_REVIEW})
FINAL_STATUSES = frozenset({ComplaintStatus.CLOSED, ComplaintStatus.WITHDRAWN, ComplaintStatus.MERGED})


class Complaint(Base, HasProtected):
    __tablename__ = "complaint"
    __protected__ = ("complainant_name",)
    __table_args__ = (
        UniqueConstraint("source", "source_ref"),  # idempotent intake: a channel's retry finds the same case
        Index("ix_complaint_customer_status", "customer_id", "status"),
        Index("ix_complaint_status_target", "status", "target_due_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)  # "TS20250303-000123": bank-local day + sequence
    customer_id: Mapped[str | None] = mapped_column(String(32))
    complainant_name = protected_text("complaint", row="case_no")  # over complainant_name_enc, bound to the case number
    complainant_name_enc: Mapped[str | None] = mapped_column(Text)
    complainant_phone_enc: Mapped[str | None] = mapped_column(Text)
    complainant_phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(32))  # JR/T 0169 A
    business_type: Mapped[str] = mapped_column(String(32))  # B
    cause: Mapped[str] = mapped_column(String(32))  # C
    summary: Mapped[str] = mapped_column(String(500))
    facts: Mapped[str] = mapped_column(Text, default="")
    request: Mapped[str] = mapped_column(Text, default="")
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    group_size: Mapped[int] = mapped_column(Integer, default=1)
    major_incident: Mapped[bool] = mapped_column(Boolean, default=False)  # disaster, accident, public-health event
    severity: Mapped[str] = mapped_column(String(16), default="normal")  # normal | high | major (complaint_routing)
    routed_group: Mapped[str | None] = mapped_column(String(128))  # candidate group from triage
    status: Mapped[str] = mapped_column(String(20))
    handler: Mapped[str | None] = mapped_column(String(128))  # who investigated (recusal: never approves or reviews)
    received_at: Mapped[datetime]
    clock_started_on: Mapped[date] = mapped_column(Date)  # receipt day, or the new material's day after new facts
    target_due_on: Mapped[date] = mapped_column(Date)
    legal_due_on: Mapped[date] = mapped_column(Date)
    warn_on: Mapped[date] = mapped_column(Date)
    regulator_due_on: Mapped[date | None] = mapped_column(Date)
    extension: Mapped[str] = mapped_column(String(16), default="none")  # none | complex | special
    paused_days: Mapped[int] = mapped_column(Integer, default=0)
    pause_started_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(16))  # upheld | partly | rejected
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answer_channel: Mapped[str | None] = mapped_column(String(16))
    answer_outbox_key: Mapped[str | None] = mapped_column(String(200))
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 1–5
    satisfaction_comment: Mapped[str | None] = mapped_column(Text)
    review_apply_by: Mapped[date | None] = mapped_column(Date)  # last day to ask for 核查 (30 days after the answer)
    review_requested_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(Text)
    review_due_on: Mapped[date | None] = mapped_column(Date)  # the review decision's due day
    merged_into: Mapped[str | None] = mapped_column(String(32))
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("process_instance.id", ondelete="SET NULL"), index=True)
    # Never loaded; orders the case's insert after its instance's within one flush.
    instance: Mapped[ProcessInstance | None] = relationship(lazy="raise")
    source: Mapped[str] = mapped_column(String(32))
    source_ref: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ComplaintEvent(Base):
    """One event on a case's clock or status: received, acknowledged, extended, paused, new_facts, answered…"""

    __tablename__ = "complaint_event"
    __table_args__ = (Index("ix_complaint_event_case", "complaint_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ComplaintCounter(Base):
    """Last case number handed out per bank-local day (the "000123" of TS20250303-000123)."""

    __tablename__ = "complaint_counter"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
