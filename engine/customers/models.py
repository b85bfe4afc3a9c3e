"""The customers feature's own tables: the customer profile care needs, and consents per channel and purpose.

The outbox (engine.outbox.models) reads ``Consent`` at send time; consents belong to the customer, so they live here.

The name, full birth date and contact data (phone, e-mail, ID number, address) are stored encrypted (``*_enc``,
bound to their row and column, see ``engine.privacy``) with keyed hashes for lookups (``*_index``; ``name_search``:
the blind index of name prefixes); the name and birth date read as plain attributes (``engine.db.protected``).
The decision field by field is in docs/personal-data.md. Birthdays are kept in the form the daily scan queries by
index: ``birthday_md`` ("MM-DD") for solar birthdays, ``lunar_month``/``lunar_day`` for lunar ones.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base
from engine.db.protected import HasProtected, protected_date, protected_text
from engine.privacy import FieldCipher


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    DORMANT = "dormant"  # dormant at the customer's request: care only when asked
    DECEASED = "deceased"
    CLOSED = "closed"
    ERASED = "erased"  # personal data erased (engine.dsr.erasure): a tombstone row the import never fills again


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
    # Customer 360 (engine.customers.accounts_models): AUM is the monthly average daily balance (月日均) summed over
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
