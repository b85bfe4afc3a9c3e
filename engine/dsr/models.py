"""A customer's access or deletion request (docs/domain.md §3.7): who asked, through which channel, by when it must be
answered (working days on the bank's calendar), and how it was answered or why it was refused.

The row holds no personal data besides the customer number: the staff note and the answer are what the bank wrote.
The export an access request answers with is made when it is downloaded, from what CareFlow holds then.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId


class RequestKind(enum.StrEnum):
    ACCESS = "access"  # PIPL Art. 45: a copy of the personal data held
    DELETION = "deletion"  # PIPL Art. 47


class RequestStatus(enum.StrEnum):
    RECEIVED = "received"
    ANSWERED = "answered"  # access: the export is ready; deletion: the personal data is erased
    REFUSED = "refused"  # with the legal reason (and the day the hold ends, when known)


class DataSubjectRequest(Base):
    __tablename__ = "data_subject_request"
    __table_args__ = (Index("ix_dsr_status_due", "status", "due_at"),
                      Index("ix_dsr_customer", "customer_id", "received_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))  # portal | branch | phone
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]  # received + retention.dsr_answer_workdays working days, same clock time
    recorded_by: Mapped[str] = mapped_column(String(128))  # "customer:<id>" from the portal, else the staff member
    note: Mapped[str] = mapped_column(Text, default="")  # staff's note when recording a branch or phone request
    handled_by: Mapped[str | None] = mapped_column(String(128))
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(Text)  # what the customer reads
    refusal_reason: Mapped[str | None] = mapped_column(String(32))  # a code of engine.dsr.erasure.HOLD_REASONS
    hold_until: Mapped[date | None] = mapped_column(Date)  # a refused deletion: the day the hold ends, when known
