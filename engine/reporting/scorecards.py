"""Customer-manager scorecards (docs/domain.md §4.4): one row per manager, over the customers they manage now.

Definitions are in ``engine.reporting.kpis``' docstring (AUM growth and attrition from the monthly
``aum_snapshot``; cross-sell rate = sold ÷ contacted leads; complaint rate = complaints ÷ customers in
the portfolio; on-time closure = answered on or before ``legal_due_on``). Each figure is one grouped
query per source table, so the cost follows the number of managers and the period, not the history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from engine.customers.models import Customer, CustomerStatus
from engine.reporting.kpis import CONTACTED, _count, decided_days, money, ratio, timeliness_columns
from engine.reporting.models import AumSnapshot
from engine.reporting.scope import Scope, Sql, month_start, next_month
from engine.sales.models import SalesLead

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


def _portfolio(session: Session, scope: Scope) -> dict[str, tuple[Any, ...]]:
    """Per current manager, in one pass over their customers with the start (and end) snapshot joined by key:
    customers in the portfolio, new customers, AUM at start, active at start, of those gone by the end, AUM at end."""
    start_month, end_month = month_start(scope.start), next_month(scope.end)
    begin = aliased(AumSnapshot)
    query = (select(Customer.manager).select_from(Customer)
             .outerjoin(begin, and_(begin.customer_id == Customer.id, begin.month == start_month)))
    end_status: Any
    end_aum: Any
    if _has_snapshot(session, end_month):
        finish = aliased(AumSnapshot)
        query = query.outerjoin(finish, and_(finish.customer_id == Customer.id, finish.month == end_month))
        end_status, end_aum = finish.status, func.coalesce(finish.aum, 0)
    else:  # the period runs to today: the customers' current figures
        end_status, end_aum = Customer.status, Customer.aum
    was_active = begin.status == CustomerStatus.ACTIVE.value
    query = query.add_columns(
        _count(Customer.status.in_(IN_PORTFOLIO)), _count(Customer.customer_since.between(scope.start, scope.end)),
        func.sum(begin.aum), _count(was_active), _count(and_(was_active, end_status.in_(GONE))), func.sum(end_aum))
    return _grouped(session, query.where(*scope.customer_conditions(), Customer.manager.is_not(None))
                    .group_by(Customer.manager))


def _leads(session: Session, scope: Scope) -> dict[str, tuple[Any, ...]]:
    return _grouped(session, select(Customer.manager, _count(CONTACTED), _count(SalesLead.status == "sold"))
                    .join(Customer, Customer.id == SalesLead.customer_id)
                    .where(*scope.in_period(SalesLead.created_at), *scope.customer_conditions(),
                           Customer.manager.is_not(None)).group_by(Customer.manager))


def _complaints(session: Session, scope: Scope) -> dict[str, tuple[Any, ...]]:
    """Per manager: complaints received in the period, decided, on time."""
    decided = decided_days(scope, Sql(session, scope), Customer.manager, join_customer=True, days=False)
    return _grouped(session, select(decided.c.manager, *timeliness_columns(decided, within=()))
                    .where(decided.c.manager.is_not(None)).group_by(decided.c.manager))


def queries(scope: Scope) -> dict[str, Callable[[Session], Any]]:
    """The scorecards' independent queries (slowest first), to run in one session or side by side."""
    return {"portfolio": lambda s: _portfolio(s, scope), "leads": lambda s: _leads(s, scope),
            "complaints": lambda s: _complaints(s, scope),
            "has_start": lambda s: _has_snapshot(s, month_start(scope.start))}


def assemble(parts: Mapping[str, Any]) -> tuple[Scorecard, ...]:
    """One scorecard per manager of the portfolio, by manager name, from the results of :func:`queries`."""
    portfolio, leads, complaints, has_start = (parts[k] for k in ("portfolio", "leads", "complaints", "has_start"))
    cards = []
    for manager in sorted(portfolio):
        customers, new, aum_start, active, gone, aum_end = portfolio[manager]
        lead = leads.get(manager, (0, 0))
        received, decided, on_time = complaints.get(manager, (0, 0, 0))
        cards.append(Scorecard(
            manager, int(customers), int(new), money(aum_start) if has_start else None, money(aum_end),
            int(lead[0]), int(lead[1]), int(active), int(gone), int(received), int(decided), int(on_time)))
    return tuple(cards)


def scorecards(session: Session, scope: Scope) -> tuple[Scorecard, ...]:
    """One scorecard per customer manager in scope, by manager name (the queries one after another)."""
    return assemble({name: query(session) for name, query in queries(scope).items()})
