"""The outbox's tables: messages some step wants sent (written in the step's transaction, sent after commit), and
the in-app notices of the "inapp" channel. Consents are the customer's (engine.customers.models)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db.base import Base, BigId

if TYPE_CHECKING:
    from engine.db.models import ProcessInstance


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at (first try, retry, or contact window)
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"
    SUPPRESSED = "suppressed"  # refused by policy: consent, do-not-disturb, cap, customer status
    DEAD = "dead"  # dead letter: permanent failure or retries exhausted
    HELD = "held"  # waiting at backup time, so maybe sent before the failure: a person releases it (engine.backup)


FINAL_OUTBOX_STATES = frozenset({OutboxStatus.SENT, OutboxStatus.SUPPRESSED, OutboxStatus.DEAD})


class OutboxMessage(Base):
    """A message some step wants sent; written in the step's transaction, sent after commit."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "next_attempt_at"),
        Index("ix_outbox_message_customer_sent", "customer_id", "purpose", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    instance_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("process_instance.id", ondelete="SET NULL"), index=True
    )
    # Never loaded; orders the insert after its instance's within one flush (bulk starts).
    instance: Mapped[ProcessInstance | None] = relationship(lazy="raise")
    task_name: Mapped[str | None] = mapped_column(String(256))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result_delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    # "customer" (consents, contact window and caps apply) or "staff" (a member of staff's own notification, sent
    # to the address in their settings, engine.services.notification_settings); ``staff_user`` names them.
    recipient_kind: Mapped[str] = mapped_column(String(16), default="customer", server_default="customer")
    staff_user: Mapped[str | None] = mapped_column(String(128))


class Notification(Base):
    """An in-app notice shown in the customer portal (the "inapp" channel)."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("idempotency_key"), Index("ix_notification_customer", "customer_id", "created_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    title: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
