"""Cross-sell tables: leads (one ``cross_sell_followup`` instance each) and the sales they end in.

A lead is open while its instance runs; ``open_key`` ("customer:product") is set only then and is
unique, so the database itself refuses a second open lead for the same customer and product. A sale
keeps what suitability decided on (docs/domain.md §2.10): the age (周岁) and both levels on the sale date, the
decision with its reasons, the double-recording reference (双录, §2.5), the end of the cooling-off
(§2.6) and the post-sale revisit by someone other than the seller (§2.7).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base, BigId

LEAD_SOURCES = ("maturity", "large_deposit", "life_event", "campaign", "prediction")
LEAD_STATUSES = ("new", "contacted", "interested", "declined", "blocked", "sold", "cancelled")
OPEN_LEAD_STATUSES = ("new", "contacted", "interested")


class SalesLead(Base):
    __tablename__ = "sales_lead"
    __table_args__ = (Index("ix_sales_lead_customer", "customer_id", "status"),
                      Index("ix_sales_lead_status_created", "status", "created_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID, known to the instance before the row
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    product_code: Mapped[str] = mapped_column(ForeignKey("product.code"))
    source: Mapped[str] = mapped_column(String(16))  # LEAD_SOURCES
    reason: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # LEAD_STATUSES
    open_key: Mapped[str | None] = mapped_column(String(80), unique=True)  # "customer:product" while open
    owner: Mapped[str | None] = mapped_column(String(128))  # the customer manager who made the contact
    contact_outcome: Mapped[str | None] = mapped_column(String(16))
    suitability: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the check before contact
    instance_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class Sale(Base):
    __tablename__ = "sale"
    __table_args__ = (Index("ix_sale_customer_product", "customer_id", "product_code", "cooling_off_until"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("sales_lead.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    product_code: Mapped[str] = mapped_column(ForeignKey("product.code"))
    holding_id: Mapped[int | None] = mapped_column(ForeignKey("customer_holding.id", ondelete="SET NULL"))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    channel: Mapped[str] = mapped_column(String(8))  # branch | online
    seller: Mapped[str] = mapped_column(String(128))
    sold_at: Mapped[datetime]
    age_at_sale: Mapped[int] = mapped_column(Integer)
    customer_level_at_sale: Mapped[int] = mapped_column(Integer)
    product_level_at_sale: Mapped[int] = mapped_column(Integer)
    suitability_decision: Mapped[str] = mapped_column(String(32))
    suitability: Mapped[dict[str, Any]] = mapped_column(JSON)  # reasons and extra steps, as decided
    double_recording_ref: Mapped[str | None] = mapped_column(String(128))
    cooling_off_until: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    revisit_by: Mapped[str | None] = mapped_column(String(128))  # who made the post-sale revisit (never the seller)
    revisited_at: Mapped[datetime | None]
    revisit_outcome: Mapped[str | None] = mapped_column(String(32))
    instance_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
