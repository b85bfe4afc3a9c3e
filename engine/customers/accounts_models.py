"""Customer 360 tables: products, accounts and AUM, holdings, tier history, risk assessments, imports.

Figures come from core banking (``engine.customers.imports``); CareFlow keeps what its
processes decide on: the tier (with its history, 快升缓降), the customer's risk level C1–C5 with the
questionnaire's validity (suitability, docs/domain.md §2.3) and the products held (cross-sell, revisits).
Account numbers are never stored whole: only the last four digits (尾号), which is all a list or a
call script needs.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId

Money = Numeric(18, 2)


class Product(Base):
    """A product the bank sells or distributes, with its risk rating (R1–R5 as 1–5).

    ``risk_level`` is the seller's rating and ``issuer_risk_level`` the issuer's; suitability uses
    the higher of the two (孰高, docs/domain.md §2.2).
    """

    __tablename__ = "product"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    family: Mapped[str] = mapped_column(String(16))  # deposit | wmp | fund | insurance | structured | loan | card
    risk_level: Mapped[int] = mapped_column(Integer)  # 1..5 = R1..R5
    issuer_risk_level: Mapped[int | None] = mapped_column(Integer)
    issuer: Mapped[str | None] = mapped_column(String(128))
    private: Mapped[bool] = mapped_column(Boolean, default=False)  # private placement: qualified investors only
    min_amount: Mapped[Decimal | None] = mapped_column(Money)
    cooling_off_hours: Mapped[int] = mapped_column(Integer, default=0)  # 0: no cooling-off
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomerAccount(Base):
    """An account at the bank: kind, balance, monthly average daily balance (月日均) for tiering."""

    __tablename__ = "customer_account"
    __table_args__ = (Index("ix_customer_account_customer", "customer_id", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(64), unique=True)  # core banking's key, not the number
    kind: Mapped[str] = mapped_column(String(16))  # current | savings | time_deposit | loan | card | investment
    number_last4: Mapped[str | None] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    avg_daily_balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    opened_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | dormant | closed
    updated_at: Mapped[datetime]


class CustomerHolding(Base):
    """A product the customer holds (or held): amount, when bought and from whom, maturity."""

    __tablename__ = "customer_holding"
    __table_args__ = (
        Index("ix_customer_holding_customer", "customer_id", "status"),
        Index("ix_customer_holding_maturity", "status", "matures_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    product_code: Mapped[str] = mapped_column(ForeignKey("product.code"))
    amount: Mapped[Decimal] = mapped_column(Money)
    bought_on: Mapped[date] = mapped_column(Date)
    matures_on: Mapped[date | None] = mapped_column(Date)
    sold_by: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="held")  # held | matured | redeemed | cancelled
    source: Mapped[str] = mapped_column(String(16), default="import")  # import | sale


class TierChange(Base):
    """Every tier the customer has had: upgrades at once, downgrades after N months below (快升缓降)."""

    __tablename__ = "tier_history"
    __table_args__ = (Index("ix_tier_history_customer", "customer_id", "changed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    tier: Mapped[str] = mapped_column(String(16))
    previous_tier: Mapped[str | None] = mapped_column(String(16))
    aum: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(64))  # onboarding | upgrade | downgrade | import | manual
    actor: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime]


class RiskAssessment(Base):
    """A completed risk questionnaire: the customer's level C1–C5 (1–5) and until when it is valid."""

    __tablename__ = "risk_assessment"
    __table_args__ = (Index("ix_risk_assessment_customer", "customer_id", "assessed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)  # 1..5 = C1..C5
    score: Mapped[int | None] = mapped_column(Integer)
    questionnaire_version: Mapped[str] = mapped_column(String(32))
    assessed_at: Mapped[datetime]
    valid_until: Mapped[date] = mapped_column(Date)
    assessed_by: Mapped[str] = mapped_column(String(128))
    instance_id: Mapped[str | None] = mapped_column(String(36))


class CustomerImportRun(Base):
    """One import of customer data from core banking: progress and a per-row error report."""

    __tablename__ = "customer_import_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))  # file name or adapter name
    format: Mapped[str] = mapped_column(String(8))  # csv | json | http
    actor: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{row, field, message}]
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
