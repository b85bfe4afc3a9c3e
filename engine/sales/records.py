"""Reading suitability facts from the customer-360 rows, and the writes the cross-sell steps leave behind.

The writes are step effects (``call.effects``, applied by ``engine.runtime.effects.apply_effects`` in the
step's own transaction): the lead and sale rows change exactly when the instance's state does, or not
at all. Who did a human step (the contacting manager, the seller, the revisit caller) is read from
``human_task.completed_by`` in that same transaction, never taken from form data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.config import Settings
from engine.customers.accounts_models import CustomerHolding, Product, RiskAssessment
from engine.customers.models import Customer
from engine.db.models import HumanTask, HumanTaskStatus
from engine.errors import CustomerNotFoundError, InvalidInputError, NotFoundError
from engine.sales.models import OPEN_LEAD_STATUSES, Sale, SalesLead
from engine.sales.suitability import SuitabilityFacts, SuitabilityPolicy

CONTACT_TASK, SALE_TASK, REVISIT_TASK = "contact_customer", "record_sale", "revisit_customer"


def policy_from(settings: Settings) -> SuitabilityPolicy:
    return SuitabilityPolicy(
        elderly_special_care_age=settings.sales.elderly_special_care_age,
        elderly_definition_age=settings.sales.elderly_definition_age,
        high_risk_from=settings.sales.high_risk_from,
        second_check_age=settings.sales.second_check_age,
    )


def load_facts(session: Session, settings: Settings, customer_id: str, product_code: str, day: date, *,
               amount: Decimal | None = None, channel: str | None = None) -> tuple[SuitabilityFacts, Product]:
    """The facts as of ``day`` from the customer, their latest questionnaire and the product row.

    The customer's ``risk_level``/``risk_valid_until`` are used; without them, the latest
    ``risk_assessment`` and its ``valid_until``. Raises CustomerNotFoundError, NotFoundError (product).
    """
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer {customer_id}")
    product = session.get(Product, product_code)
    if product is None:
        raise NotFoundError(f"no product {product_code}")
    level, valid_until = customer.risk_level, customer.risk_valid_until
    if level is None:
        latest = session.scalars(select(RiskAssessment).where(RiskAssessment.customer_id == customer_id)
                                 .order_by(RiskAssessment.assessed_at.desc()).limit(1)).first()
        if latest is not None:
            level, valid_until = latest.level, latest.valid_until
    facts = SuitabilityFacts(
        sale_date=day, customer_level=level, level_valid_until=valid_until, birth_date=customer.birth_date,
        seller_product_level=product.risk_level, issuer_product_level=product.issuer_risk_level,
        family=product.family, private=product.private, professional=customer.professional_investor,
        qualified=customer.qualified_investor, min_amount=product.min_amount, amount=amount, channel=channel,
    )
    return facts, product


def facts_to_data(facts: SuitabilityFacts, level: int, age: int | None, policy: SuitabilityPolicy) -> dict[str, Any]:
    """The facts as task data: what the DMN reads (levels, age, thresholds) and what ``facts_from_data`` needs."""
    return {
        "sale_date": facts.sale_date.isoformat(), "customer_level": facts.customer_level or 0,
        "level_valid_until": facts.level_valid_until.isoformat() if facts.level_valid_until else None,
        "birth_date": facts.birth_date.isoformat() if facts.birth_date else None, "age": -1 if age is None else age,
        "seller_product_level": facts.seller_product_level, "issuer_product_level": facts.issuer_product_level,
        "product_level": level, "family": facts.family, "private": facts.private, "professional": facts.professional,
        "qualified": facts.qualified, "min_amount": str(facts.min_amount) if facts.min_amount is not None else None,
        "elderly_care_age": policy.elderly_special_care_age, "high_risk_from": policy.high_risk_from,
    }


def facts_from_data(data: dict[str, Any]) -> SuitabilityFacts:
    def day(key: str) -> date | None:
        return date.fromisoformat(data[key]) if data.get(key) else None

    return SuitabilityFacts(
        sale_date=date.fromisoformat(data["sale_date"]), customer_level=data["customer_level"] or None,
        level_valid_until=day("level_valid_until"), birth_date=day("birth_date"),
        seller_product_level=int(data["seller_product_level"]), issuer_product_level=data.get("issuer_product_level"),
        family=str(data["family"]), private=bool(data["private"]), professional=bool(data["professional"]),
        qualified=bool(data["qualified"]),
        min_amount=Decimal(data["min_amount"]) if data.get("min_amount") is not None else None,
    )


def cooling_off_hours(product: Product, settings: Settings) -> int:
    """Hours of cooling-off after the sale (docs/domain.md §2.6): the product's, at least 24 h for private WMPs and
    15 days for insurance (settings)."""
    hours = product.cooling_off_hours or 0
    if product.family == "wmp" and product.private:
        hours = max(hours, settings.sales.cooling_off_private_wmp_hours)
    if product.family == "insurance":
        hours = max(hours, settings.sales.cooling_off_insurance_days * 24)
    return hours


def parse_amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (ArithmeticError, ValueError) as exc:
        raise InvalidInputError(f"amount {value!r} is not a number") from exc
    if not amount.is_finite() or amount <= 0:
        raise InvalidInputError("amount must be a positive number")
    return amount


def performer(session: Session, instance_id: uuid.UUID | None, task_name: str) -> str | None:
    """Who last completed ``task_name`` in this instance (flushed rows of this very step included)."""
    if instance_id is None:
        return None
    return session.scalar(select(HumanTask.completed_by).where(
        HumanTask.instance_id == instance_id, HumanTask.task_name == task_name,
        HumanTask.status == HumanTaskStatus.COMPLETED.value).order_by(HumanTask.completed_at.desc()).limit(1))


def lead_row(session: Session, lead_id: str) -> SalesLead:
    for pending in session.new:  # added earlier in this same step (open_lead), not flushed yet
        if isinstance(pending, SalesLead) and pending.id == lead_id:
            return pending
    lead = session.get(SalesLead, lead_id)
    if lead is None:
        raise NotFoundError(f"no sales lead {lead_id}")
    return lead


def _close(lead: SalesLead, status: str, now: datetime) -> None:
    lead.status, lead.updated_at = status, now
    if status not in OPEN_LEAD_STATUSES:
        lead.open_key, lead.closed_at = None, now


@dataclass(frozen=True)
class OpenLead:
    lead_id: str
    customer_id: str
    product_code: str
    source: str
    reason: str
    created_by: str

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        session.add(SalesLead(
            id=self.lead_id, customer_id=self.customer_id, product_code=self.product_code, source=self.source,
            reason=self.reason, status="new", open_key=f"{self.customer_id}:{self.product_code}",
            instance_id=instance_id, created_by=self.created_by, created_at=now, updated_at=now))


@dataclass(frozen=True)
class LeadChecked:
    lead_id: str
    suitability: dict[str, Any]

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        lead = lead_row(session, self.lead_id)
        lead.suitability, lead.updated_at = self.suitability, now
        if self.suitability["decision"] == "block":
            _close(lead, "blocked", now)


@dataclass(frozen=True)
class LeadStatus:
    """The contact's outcome (the owner is whoever completed the contact task) or a closing status."""

    lead_id: str
    status: str
    contact: bool = False

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        lead = lead_row(session, self.lead_id)
        if self.contact:
            lead.contact_outcome = self.status
            lead.owner = performer(session, instance_id, CONTACT_TASK) or lead.owner
        _close(lead, self.status, now)


@dataclass(frozen=True)
class RecordSale:
    lead_id: str
    amount: Decimal
    channel: str
    double_recording_ref: str | None
    bought_on: date
    cooling_off_until: datetime | None
    decision: dict[str, Any] = field(default_factory=dict)

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        lead = lead_row(session, self.lead_id)
        seller = performer(session, instance_id, SALE_TASK) or "system"
        holding = CustomerHolding(customer_id=lead.customer_id, product_code=lead.product_code, amount=self.amount,
                                  bought_on=self.bought_on, sold_by=seller, status="held", source="sale")
        session.add(holding)
        session.flush()
        session.add(Sale(
            lead_id=lead.id, customer_id=lead.customer_id, product_code=lead.product_code, holding_id=holding.id,
            amount=self.amount, channel=self.channel, seller=seller, sold_at=now,
            age_at_sale=self.decision["age"], customer_level_at_sale=self.decision["customer_level"],
            product_level_at_sale=self.decision["product_level"], suitability_decision=self.decision["decision"],
            suitability={"reasons": self.decision["reasons"], "extra_steps": self.decision["extra_steps"]},
            double_recording_ref=self.double_recording_ref, cooling_off_until=self.cooling_off_until,
            instance_id=instance_id))
        _close(lead, "sold", now)


def _sale(session: Session, lead_id: str) -> Sale:
    sale = session.scalars(select(Sale).where(Sale.lead_id == lead_id)).first()
    if sale is None:
        raise NotFoundError(f"lead {lead_id} has no sale")
    return sale


@dataclass(frozen=True)
class CancelSale:
    lead_id: str

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        sale = _sale(session, self.lead_id)
        sale.cancelled_at = now
        if sale.holding_id is not None:
            holding = session.get(CustomerHolding, sale.holding_id)
            if holding is not None:
                holding.status = "cancelled"
        _close(lead_row(session, self.lead_id), "cancelled", now)


@dataclass(frozen=True)
class RecordRevisit:
    lead_id: str
    outcome: str

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        sale = _sale(session, self.lead_id)
        sale.revisit_by = performer(session, instance_id, REVISIT_TASK)
        sale.revisited_at, sale.revisit_outcome = now, self.outcome


def cooling_off_end(now: datetime, hours: int) -> datetime | None:
    return now + timedelta(hours=hours) if hours > 0 else None
