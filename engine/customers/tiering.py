"""Customer tiers from AUM: the monthly recompute for every customer, and the one place a tier changes.

docs/domain.md §4.2 (rules in :mod:`engine.customers.tier_rules`): AUM is the weighted sum of the accounts'
monthly average daily balance; upgrades apply at once, downgrades after ``tier_downgrade_months``
below the floor. Every change writes a ``tier_history`` row and an audit event on the customer's
stream, and starts a revisit (docs/domain.md §4.3 "on a tier change") when ``periodic_revisit`` is deployed.

``recompute_tiers(ctx, day, actor=SYSTEM)`` is meant for the scheduler or the CLI, e.g. on the
first of each month after the core-banking import. It pages through customers by primary key, one
transaction per page: one aggregate query over ``customer_account`` (index on customer_id, kind)
per page, and writes only for the customers whose AUM, tier or below-floor date moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.customers.accounts_models import CustomerAccount, TierChange
from engine.customers.models import Customer, CustomerStatus
from engine.customers.tier_rules import EXCLUDED_KINDS, decide_tier
from engine.db.session import unit_of_work
from engine.errors import DefinitionNotFoundError
from engine.services.authz import require_role
from engine.services.instances import StartRequest, start_instances
from engine.views import SYSTEM, Actor

log = logging.getLogger(__name__)

REVISIT_PROCESS = "periodic_revisit"
PAGE = 1000


@dataclass(frozen=True)
class RecomputeResult:
    day: date
    customers: int
    upgraded: int
    downgraded: int
    revisits_started: int


def record_tier_change(session: Session, customer: Customer, tier: str, aum: Decimal, *, reason: str, actor: str,
                       now: datetime) -> None:
    """Set the customer's tier in the caller's transaction: tier_history row and audit event (no commit)."""
    previous = customer.tier
    customer.tier, customer.tier_below_since, customer.updated_at = tier, None, now
    session.add(TierChange(customer_id=customer.id, tier=tier, previous_tier=previous, aum=aum, reason=reason,
                           actor=actor, changed_at=now))
    audit.append(session, stream=f"customer:{customer.id}", actor=actor, action="customer.tier_changed",
                 subject_type="customer", subject_id=customer.id, at=now, before={"tier": previous},
                 after={"tier": tier, "aum": str(aum), "reason": reason})


def recompute_tiers(ctx: EngineContext, day: date, *, actor: Actor = SYSTEM) -> RecomputeResult:
    """Recompute AUM and tier of every active customer as observed on ``day`` (bank-local date).

    Changes ``customer.aum``, ``tier``, ``tier_below_since``; adds tier_history rows and audit
    events; starts a ``periodic_revisit`` (business key ``revisit:<customer>:<day>``, the one the
    daily scan would use) for each changed customer. Safe to rerun for the same day. Raises
    PermissionDeniedError for callers who are not supervisors or admins.
    """
    require_role(actor, "supervisor")
    weights = dict(ctx.settings.tiering.aum_weights)
    total = up = down = 0
    changed: list[StartRequest] = []
    last = ""
    while True:
        with unit_of_work(ctx.sessions) as session:
            page = list(session.scalars(select(Customer).where(
                Customer.id > last, Customer.status == CustomerStatus.ACTIVE.value).order_by(Customer.id).limit(PAGE)))
            if not page:
                break
            aums = _aums(session, [c.id for c in page], weights)
            now = ctx.clock.now()
            for customer in page:
                reason = _apply(session, customer, aums.get(customer.id, Decimal("0.00")), day, ctx, actor, now)
                if reason is not None:
                    up, down = up + (reason == "upgrade"), down + (reason == "downgrade")
                    changed.append(StartRequest(f"revisit:{customer.id}:{day.isoformat()}", customer.id, {
                        "customer_id": customer.id, "occasion": "tier_change", "tier": customer.tier,
                        "manager": customer.manager, "due_on": day.isoformat()}))
        total += len(page)
        last = page[-1].id
    return RecomputeResult(day, total, up, down, _start_revisits(ctx, changed))


def _aums(session: Session, ids: list[str], weights: dict[str, float]) -> dict[str, Decimal]:
    """Weighted Σ avg_daily_balance per customer of ``ids``: one grouped query (loans and closed accounts left
    out), the weights applied per kind in Decimal so the cents are exact."""
    rows = session.execute(
        select(CustomerAccount.customer_id, CustomerAccount.kind, func.sum(CustomerAccount.avg_daily_balance))
        .where(CustomerAccount.customer_id.in_(ids), CustomerAccount.status != "closed",
               CustomerAccount.kind.not_in(EXCLUDED_KINDS))
        .group_by(CustomerAccount.customer_id, CustomerAccount.kind)).all()
    totals: dict[str, Decimal] = {}
    for customer_id, kind, balance in rows:
        factor = Decimal(str(weights.get(kind, 1.0)))
        totals[customer_id] = totals.get(customer_id, Decimal("0")) + Decimal(balance or 0) * factor
    return {cid: value.quantize(Decimal("0.01")) for cid, value in totals.items()}


def _apply(session: Session, customer: Customer, aum: Decimal, day: date, ctx: EngineContext, actor: Actor,
           now: datetime) -> str | None:
    decision = decide_tier(customer.tier, customer.tier_below_since, aum, day, floors=ctx.settings.tiering.floors,
                           downgrade_months=ctx.settings.tiering.downgrade_months)
    if Decimal(customer.aum or 0) != aum:
        customer.aum, customer.updated_at = aum, now
    if decision.reason is not None:
        record_tier_change(session, customer, decision.tier, aum, reason=decision.reason, actor=actor.username, now=now)
    elif customer.tier_below_since != decision.below_since:
        customer.tier_below_since = decision.below_since
    return decision.reason


def _start_revisits(ctx: EngineContext, requests: list[StartRequest]) -> int:
    started = 0
    for i in range(0, len(requests), ctx.settings.care.batch_size):
        try:
            result = start_instances(ctx, process_key=REVISIT_PROCESS, requests=requests[i:i + ctx.settings.care.batch_size],
                                     actor=SYSTEM)
        except DefinitionNotFoundError:
            log.warning("tier changes recorded, but %s is not deployed: no revisits started", REVISIT_PROCESS)
            return started
        started += len(result.started)
    return started
