"""Customer-manager scorecards (DOMAIN §4.4): one row per manager, over the customers they manage now.

Definitions are in ``engine.reporting.kpis``' docstring (AUM growth and attrition from the monthly
``aum_snapshot``; cross-sell rate = sold ÷ contacted leads; complaint rate = complaints ÷ customers in
the portfolio; on-time closure = answered on or before ``legal_due_on``). Each figure is one grouped
query per source table, so the cost follows the number of managers and the period, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.complaints import Complaint
from engine.db.outreach import Customer, CustomerStatus
from engine.db.reporting import AumSnapshot
from engine.db.sales import SalesLead
from engine.reporting.kpis import CONTACTED, _count, _received, _timeliness_columns, money, ratio
from engine.reporting.scope import Scope, Sql, month_start, next_month

GONE = (CustomerStatus.CLOSED.value, CustomerStatus.DORMANT.value)
IN_PORTFOLIO = (CustomerStatus.ACTIVE.value, CustomerStatus.DORMANT.value)


@dataclass(frozen=True)
class Scorecard:
    manager: str
    customers: int
    new_customers: int
    aum_start: Decimal | None  # None: no snapshot for the start month
    aum_end: Decimal
    contacted: int
    sold: int
    active_at_start: int
    attrited: int
    complaints: int
    decided: int
    on_time: int

    @property
    def aum_growth(self) -> Decimal | None:
        return None if self.aum_start is None else self.aum_end - self.aum_start

    @property
    def cross_sell_rate(self) -> float | None:
        return ratio(self.sold, self.contacted)

    @property
    def attrition_rate(self) -> float | None:
        return ratio(self.attrited, self.active_at_start)

    @property
    def complaint_rate(self) -> float | None:
        return ratio(self.complaints, self.customers)

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.on_time, self.decided)


def _grouped(session: Session, query: Any) -> dict[str, tuple[Any, ...]]:
    return {str(row[0]): tuple(row[1:]) for row in session.execute(query) if row[0] is not None}


def _has_snapshot(session: Session, month: date) -> bool:
    return session.scalar(select(AumSnapshot.month).where(AumSnapshot.month == month).limit(1)) is not None


def _at_month(scope: Scope, month: date) -> Any:
    """Per current manager: AUM sum, customers active then, and of those the ones closed/dormant now-or-later."""
    return (select(Customer.manager, func.sum(AumSnapshot.aum), func.count(), _count(AumSnapshot.status == "active"))
            .join(Customer, Customer.id == AumSnapshot.customer_id)
            .where(AumSnapshot.month == month, *scope.customer_conditions()).group_by(Customer.manager))


def _aum_and_attrition(session: Session, scope: Scope) -> tuple[dict[str, Any], dict[str, Decimal], dict[str, int],
                                                                  dict[str, int]]:
    start_month, end_month = month_start(scope.start), next_month(scope.end)
    start = _grouped(session, _at_month(scope, start_month))
    conditions = scope.customer_conditions()
    if _has_snapshot(session, end_month):
        end_aum = {m: money(v[0]) for m, v in _grouped(session, _at_month(scope, end_month)).items()}
        later = (select(Customer.manager, func.count()).select_from(AumSnapshot)
                 .join(Customer, Customer.id == AumSnapshot.customer_id)
                 .where(AumSnapshot.month == end_month, AumSnapshot.status.in_(GONE)))
    else:
        end_aum = {m: money(v[0]) for m, v in _grouped(session, select(Customer.manager, func.sum(Customer.aum))
                                                       .where(*conditions).group_by(Customer.manager)).items()}
        later = select(Customer.manager, func.count()).select_from(Customer).where(Customer.status.in_(GONE))
    was_active = (select(AumSnapshot.customer_id).where(AumSnapshot.month == start_month,
                                                        AumSnapshot.status == CustomerStatus.ACTIVE.value))
    gone_query = (later.where(*conditions, Customer.id.in_(was_active)).group_by(Customer.manager))
    gone = {m: int(v[0]) for m, v in _grouped(session, gone_query).items()}
    active = {m: int(v[2]) for m, v in start.items()}
    return {m: money(v[0]) for m, v in start.items()}, end_aum, active, gone


def scorecards(session: Session, scope: Scope) -> tuple[Scorecard, ...]:
    """One scorecard per customer manager in scope, by manager name."""
    sql = Sql(session, scope)
    conditions = [*scope.customer_conditions(), Customer.manager.is_not(None)]
    portfolio = _grouped(session, select(
        Customer.manager, _count(Customer.status.in_(IN_PORTFOLIO)),
        _count(Customer.customer_since.between(scope.start, scope.end))).where(*conditions).group_by(Customer.manager))
    aum_start, aum_end, active, gone = _aum_and_attrition(session, scope)
    leads = _grouped(session, select(Customer.manager, _count(CONTACTED), _count(SalesLead.status == "sold"))
                     .join(Customer, Customer.id == SalesLead.customer_id)
                     .where(*scope.in_period(SalesLead.created_at), *conditions).group_by(Customer.manager))
    received = _received(scope, Customer.manager, *_timeliness_columns(sql))
    if not scope.by_customer:
        received = received.join(Customer, Customer.id == Complaint.customer_id)
    complaints = _grouped(session, received.where(Customer.manager.is_not(None)).group_by(Customer.manager))
    has_start = _has_snapshot(session, month_start(scope.start))
    cards = []
    for manager in sorted(portfolio):
        customers, new = portfolio[manager]
        lead = leads.get(manager, (0, 0))
        comp = complaints.get(manager, (0, 0, 0, 0, 0, 0))
        cards.append(Scorecard(
            manager, int(customers), int(new), aum_start.get(manager, money(0)) if has_start else None,
            aum_end.get(manager, money(0)), int(lead[0]), int(lead[1]), active.get(manager, 0), gone.get(manager, 0),
            int(comp[0]), int(comp[1]), int(comp[5])))
    return tuple(cards)
