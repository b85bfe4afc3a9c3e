"""Cross-sell use cases: open a lead (one ``cross_sell_followup`` instance), check suitability, list leads,
cancel a sale within its cooling-off, and the maturity scan that turns maturing holdings into leads.

docs/domain.md §2.2–§2.7. A lead is idempotent per customer and product while it is open (the database
refuses a second open one). No lead — and so no contact about the product — is opened for a customer
whose purchase of that product is still in its cooling-off (§2.6: no active contact during it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.customers.accounts_models import CustomerHolding, Product
from engine.customers.models import Customer, CustomerStatus
from engine.db.session import unit_of_work
from engine.errors import ConflictError, CustomerNotFoundError, DuplicateBusinessKeyError, InvalidInputError, NotFoundError
from engine.sales import records
from engine.sales.models import LEAD_SOURCES, LEAD_STATUSES, Sale, SalesLead
from engine.sales.suitability import SuitabilityDecision, evaluate
from engine.services.authz import require_any_role
from engine.services.instances import StartRequest, start_instance, start_instances
from engine.services.messages import deliver_trusted
from engine.views import SYSTEM, Actor

PROCESS = "cross_sell_followup"
CANCEL_MESSAGE = "sales.cooling_off_cancel"


@dataclass(frozen=True)
class LeadView:
    id: str
    customer_id: str
    product_code: str
    source: str
    reason: str
    status: str
    owner: str | None
    instance_id: str | None
    suitability: dict[str, Any] | None
    created_at: datetime
    created: bool = True  # False: an open lead for this customer and product already existed


@dataclass(frozen=True)
class SaleView:
    id: int
    lead_id: str
    customer_id: str
    product_code: str
    amount: Decimal
    channel: str
    seller: str
    sold_at: datetime
    age_at_sale: int
    customer_level_at_sale: int
    product_level_at_sale: int
    suitability_decision: str
    cooling_off_until: datetime | None
    cancelled_at: datetime | None
    revisit_by: str | None
    revisit_outcome: str | None


def _lead_view(row: SalesLead, created: bool = True) -> LeadView:
    return LeadView(row.id, row.customer_id, row.product_code, row.source, row.reason, row.status, row.owner,
                    str(row.instance_id) if row.instance_id else None, row.suitability, row.created_at, created)


def _sale_view(row: Sale) -> SaleView:
    return SaleView(row.id, row.lead_id, row.customer_id, row.product_code, row.amount, row.channel, row.seller,
                    row.sold_at, row.age_at_sale, row.customer_level_at_sale, row.product_level_at_sale,
                    row.suitability_decision, row.cooling_off_until, row.cancelled_at, row.revisit_by,
                    row.revisit_outcome)


def in_cooling_off(session: Session, customer_id: str, product_code: str, now: datetime) -> bool:
    """Whether the customer bought ``product_code`` and its cooling-off has not ended (nor been cancelled).

    Callers that contact customers about a product (leads, marketing) must stay silent while this holds.
    """
    return session.scalar(select(Sale.id).where(
        Sale.customer_id == customer_id, Sale.product_code == product_code, Sale.cancelled_at.is_(None),
        Sale.cooling_off_until.is_not(None), Sale.cooling_off_until > now).limit(1)) is not None


def _open_lead(session: Session, customer_id: str, product_code: str) -> SalesLead | None:
    return session.scalars(select(SalesLead).where(SalesLead.open_key == f"{customer_id}:{product_code}")).first()


def create_lead(ctx: EngineContext, *, customer_id: str, product_code: str, source: str, reason: str,
                actor: Actor) -> LeadView:
    """Open a lead and start its ``cross_sell_followup`` instance (which checks suitability first).

    Idempotent while a lead for this customer and product is open: that lead comes back with
    ``created=False``. Raises CustomerNotFoundError, NotFoundError (product), InvalidInputError,
    ConflictError (the product is in its cooling-off for this customer), PermissionDeniedError.
    """
    require_any_role(actor)
    if source not in LEAD_SOURCES:
        raise InvalidInputError(f"source must be one of {', '.join(LEAD_SOURCES)}")
    with unit_of_work(ctx.sessions, write=False) as session:
        _check_target(session, customer_id, product_code)
        existing = _open_lead(session, customer_id, product_code)
        if existing is not None:
            return _lead_view(existing, created=False)
        if in_cooling_off(session, customer_id, product_code, ctx.clock.now()):
            raise ConflictError("the customer's purchase of this product is in its cooling-off: no contact about it")
    lead_id = str(uuid.uuid4())
    try:
        start_instance(ctx, process_key=PROCESS, actor=actor, business_key=f"lead:{lead_id}", customer_id=customer_id,
                       variables=_variables(lead_id, customer_id, product_code, source, reason, actor.username))
    except DuplicateBusinessKeyError:  # another lead for the same customer and product won the race
        with unit_of_work(ctx.sessions, write=False) as session:
            existing = _open_lead(session, customer_id, product_code)
        if existing is None:
            raise
        return _lead_view(existing, created=False)
    return get_lead(ctx, lead_id, actor=actor)


def _variables(lead_id: str, customer_id: str, product_code: str, source: str, reason: str,
               created_by: str) -> dict[str, Any]:
    return {"lead_id": lead_id, "customer_id": customer_id, "product_code": product_code, "source": source,
            "reason": reason[:256], "created_by": created_by}


def _check_target(session: Session, customer_id: str, product_code: str) -> Product:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer {customer_id}")
    product = session.get(Product, product_code)
    if product is None or not product.active:
        raise NotFoundError(f"no active product {product_code}")
    return product


def get_lead(ctx: EngineContext, lead_id: str, *, actor: Actor) -> LeadView:
    """One lead. Raises NotFoundError."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(SalesLead, lead_id)
        if row is None:
            raise NotFoundError(f"no sales lead {lead_id}")
        return _lead_view(row)


def list_leads(ctx: EngineContext, *, actor: Actor, customer_id: str | None = None, status: str | None = None,
               limit: int = 50) -> list[LeadView]:
    """Leads, newest first, optionally for one customer and/or in one status. Raises InvalidInputError."""
    require_any_role(actor)
    if status is not None and status not in LEAD_STATUSES:
        raise InvalidInputError(f"status must be one of {', '.join(LEAD_STATUSES)}")
    if not 1 <= limit <= 200:
        raise InvalidInputError("limit must be between 1 and 200")
    stmt = select(SalesLead).order_by(SalesLead.created_at.desc(), SalesLead.id).limit(limit)
    if customer_id:
        stmt = stmt.where(SalesLead.customer_id == customer_id)
    if status:
        stmt = stmt.where(SalesLead.status == status)
    with unit_of_work(ctx.sessions, write=False) as session:
        return [_lead_view(row) for row in session.scalars(stmt)]


def get_sale_for_lead(ctx: EngineContext, lead_id: str, *, actor: Actor) -> SaleView:
    """The sale a lead ended in. Raises NotFoundError."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.scalars(select(Sale).where(Sale.lead_id == lead_id)).first()
        if row is None:
            raise NotFoundError(f"lead {lead_id} has no sale")
        return _sale_view(row)


def check_suitability(ctx: EngineContext, *, customer_id: str, product_code: str, actor: Actor,
                      amount: Decimal | str | int | None = None, channel: str | None = None) -> SuitabilityDecision:
    """The suitability decision for this customer and product today (bank-local), audited on the customer.

    Raises CustomerNotFoundError, NotFoundError (product), InvalidInputError (amount, channel).
    """
    require_any_role(actor)
    value = records.parse_amount(amount) if amount is not None else None
    if channel is not None and channel not in ("branch", "online"):
        raise InvalidInputError("channel must be branch or online")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        facts, _product = records.load_facts(session, ctx.settings, customer_id, product_code,
                                             now.astimezone(ctx.settings.zone).date(), amount=value, channel=channel)
        decision = evaluate(facts, records.policy_from(ctx.settings))
        audit.append(session, stream=f"customer:{customer_id}", actor=actor.username, action="suitability.checked",
                     subject_type="customer", subject_id=customer_id, at=now,
                     after={"product": product_code, "decision": decision.decision,
                            "reasons": [r.code for r in decision.reasons], "extra_steps": list(decision.extra_steps)})
        return decision


def cancel_in_cooling_off(ctx: EngineContext, sale_id: int, *, actor: Actor) -> SaleView:
    """The customer cancels within the cooling-off: the instance records it and opens the refund task.

    Raises NotFoundError, ConflictError (cancelled already, or the cooling-off is over / there is none),
    PermissionDeniedError. Repeating the call after it succeeded raises ConflictError (already cancelled).
    """
    require_any_role(actor)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        sale = session.get(Sale, sale_id)
        if sale is None:
            raise NotFoundError(f"no sale {sale_id}")
        if sale.cancelled_at is not None:
            raise ConflictError("the sale is already cancelled")
        if sale.cooling_off_until is None or sale.cooling_off_until <= now:
            raise ConflictError("the cooling-off period is over (or the product has none): use a redemption instead")
        lead_id = sale.lead_id
    # The customer's own act, recorded by the staff member serving them (the caller of this use case).
    deliver_trusted(ctx, name=CANCEL_MESSAGE, message_id=f"cooling_off_cancel:{sale_id}", actor=actor,
                    correlation={"lead_id": lead_id}, payload={"lead_id": lead_id, "requested_by": actor.username},
                    source="sales")
    with unit_of_work(ctx.sessions, write=False) as session:
        return _sale_view(session.get_one(Sale, sale_id))


@dataclass(frozen=True)
class MaturityScan:
    day: date
    started: int
    skipped: int


def scan_maturity_leads(ctx: EngineContext, day: date, actor: Actor = SYSTEM) -> MaturityScan:
    """Open a ``maturity`` lead for each held product maturing within ``cross_sell_maturity_days`` of ``day``.

    The lead offers the same product again (reinvestment) while it is active. Customers who are not
    active, products in their cooling-off and customers with an open lead for the product are skipped.
    Safe to rerun: the business key is ``maturity:<holding>:<maturity date>``.
    """
    until = day + timedelta(days=ctx.settings.sales.cross_sell_maturity_days)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.execute(
            select(CustomerHolding, Customer.status, Product.active)
            .join(Customer, Customer.id == CustomerHolding.customer_id)
            .join(Product, Product.code == CustomerHolding.product_code)
            .where(CustomerHolding.status == "held", and_(CustomerHolding.matures_on >= day,
                                                          CustomerHolding.matures_on <= until))
            .order_by(CustomerHolding.id)).all()
        requests, seen, skipped = [], set(), 0
        for holding, status, active in rows:
            key = (holding.customer_id, holding.product_code)
            if (status != CustomerStatus.ACTIVE.value or not active or key in seen
                    or _open_lead(session, *key) is not None or in_cooling_off(session, *key, now)):
                skipped += 1
                continue
            seen.add(key)
            reason = f"{holding.product_code} 将于 {holding.matures_on} 到期 matures on {holding.matures_on}"
            requests.append(StartRequest(f"maturity:{holding.id}:{holding.matures_on}", holding.customer_id,
                                         _variables(str(uuid.uuid4()), *key, "maturity", reason, actor.username)))
    if not requests:
        return MaturityScan(day, 0, skipped)
    result = start_instances(ctx, process_key=PROCESS, requests=requests, actor=actor)
    return MaturityScan(day, len(result.started), skipped + len(result.skipped))
