"""Tables for reaching customers: the customer profile care needs, consents, the outbox, in-app notices.

The name, full birth date and contact data (phone, e-mail, ID number, address) are stored encrypted (``*_enc``,
bound to their row and column, see ``engine.privacy``) with keyed hashes for lookups (``*_index``; ``name_search``:
the blind index of name prefixes); the name and birth date read as plain attributes (``engine.db.protected``).
The decision field by field is in docs/personal-data.md. Birthdays are kept in the form the daily scan queries by
index: ``birthday_md`` ("MM-DD") for solar birthdays, ``lunar_month``/``lunar_day`` for lunar ones.
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
from engine.db.protected import HasProtected, protected_date, protected_text
from engine.privacy import FieldCipher

if TYPE_CHECKING:
    from engine.db.models import ProcessInstance


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"  # dormant at the customer's request: care only when asked
    DECEASED = "deceased"
    CLOSED = "closed"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for next_attempt_at (first try, retry, or contact window)
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"
    SUPPRESSED = "suppressed"  # refused by policy: consent, do-not-disturb, cap, customer status
    DEAD = "dead"  # dead letter: permanent failure or retries exhausted
    HELD = "held"  # waiting at backup time, so maybe sent before the failure: a person releases it (engine.backup)


FINAL_OUTBOX_STATES = frozenset({OutboxStatus.SENT, OutboxStatus.SUPPRESSED, OutboxStatus.DEAD})


class Customer(Base, HasProtected):
    __tablename__ = "customer"
    __protected__ = ("name", "birth_date")
    __table_args__ = (
        Index("ix_customer_solar_birthday", "birthday_calendar", "birthday_md"),
        Index("ix_customer_lunar_birthday", "birthday_calendar", "lunar_month", "lunar_day"),
        Index("ix_customer_next_revisit", "status", "next_revisit_on"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the bank's customer number
    name = protected_text("customer")  # over name_enc
    name_enc: Mapped[str | None] = mapped_column(Text)
    name_search: Mapped[str | None] = mapped_column(Text)  # blind index: " <token of each prefix> … " (privacy)
    gender: Mapped[str | None] = mapped_column(String(1))  # "F" | "M"
    birth_date = protected_date("customer")  # over birth_date_enc; month-day and lunar date below stay in clear
    birth_date_enc: Mapped[str | None] = mapped_column(Text)
    birthday_calendar: Mapped[str] = mapped_column(String(8), default="solar")  # "solar" | "lunar"
    birthday_md: Mapped[str | None] = mapped_column(String(5))  # "MM-DD" of the solar birth date
    lunar_month: Mapped[int | None] = mapped_column(Integer)
    lunar_day: Mapped[int | None] = mapped_column(Integer)
    lunar_leap: Mapped[bool] = mapped_column(Boolean, default=False)
    tier: Mapped[str] = mapped_column(String(16), default="mass")
    branch: Mapped[str | None] = mapped_column(String(64))
    manager: Mapped[str | None] = mapped_column(String(128), index=True)  # customer manager's username
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    email_enc: Mapped[str | None] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_number_index: Mapped[str | None] = mapped_column(String(64), index=True)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    preferred_channel: Mapped[str] = mapped_column(String(16), default="sms")
    do_not_disturb: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=CustomerStatus.ACTIVE.value)
    next_revisit_on: Mapped[date | None] = mapped_column(Date)
    # Customer 360 (engine.db.customer360): AUM is the monthly average daily balance (月日均) summed over
    # accounts; the risk level (C1–C5 as 1–5) and its validity come from the latest questionnaire.
    aum: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    tier_below_since: Mapped[date | None] = mapped_column(Date)  # AUM under the tier's floor since (缓降)
    risk_level: Mapped[int | None] = mapped_column(Integer)
    risk_valid_until: Mapped[date | None] = mapped_column(Date)
    professional_investor: Mapped[bool] = mapped_column(Boolean, default=False)
    qualified_investor: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_since: Mapped[date | None] = mapped_column(Date)
    # Know-your-customer profile from onboarding (codes of the onboarding_kyc form); the address is encrypted.
    occupation: Mapped[str | None] = mapped_column(String(32))
    income_band: Mapped[str | None] = mapped_column(String(16))
    source_of_funds: Mapped[str | None] = mapped_column(String(32))
    address_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def on_seal(self, cipher: FieldCipher, changed: set[str]) -> None:
        if "name" in changed:
            self.name_search = cipher.name_tokens(self.name)


class Consent(Base):
    """The customer's latest word per channel and purpose; channel "all" covers every channel.

    Marketing needs an explicit ``granted=True``; service messages go unless refused. A refusal
    takes effect for every message not yet handed to a channel (the dispatcher checks at send time).
    """

    __tablename__ = "consent"

    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)  # "service" | "marketing"
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


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


class CareScanRun(Base):
    """One daily care scan (job, bank-local day): what it started, so reruns and catch-ups are visible."""

    __tablename__ = "care_scan_run"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # "running" | "done" | "failed"
    started: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
