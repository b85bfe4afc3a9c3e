"""The monthly AUM snapshot: each customer's AUM, tier, manager, branch and status at the start of a month.

Run by the daily scans on the first day of each month (``engine.care.scans``), or by hand for a
missed month. Idempotent: a month already taken is left as it was (its figures are history), unless
``replace=True``. One INSERT … SELECT over ``customer``, so the cost is one pass over the customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, insert, literal, select

from engine import audit
from engine.context import EngineContext
from engine.customers.models import Customer
from engine.db.session import unit_of_work
from engine.reporting.models import AumSnapshot
from engine.reporting.scope import month_start
from engine.views import SYSTEM, Actor


@dataclass(frozen=True)
class SnapshotResult:
    month: date
    customers: int
    taken: bool  # False: the month was there already


def take_aum_snapshot(ctx: EngineContext, day: date, *, replace: bool = False, actor: Actor = SYSTEM) -> SnapshotResult:
    """Snapshot every customer for the month of ``day`` (one transaction; audited ``report.aum_snapshot``)."""
    month, now = month_start(day), ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        exists = session.scalar(select(func.count()).select_from(AumSnapshot).where(AumSnapshot.month == month))
        if exists and not replace:
            return SnapshotResult(month, int(exists), taken=False)
        session.execute(delete(AumSnapshot).where(AumSnapshot.month == month))
        columns = ("month", "customer_id", "manager", "branch", "tier", "status", "aum", "taken_at")
        rows = select(literal(month, AumSnapshot.month.type), Customer.id, Customer.manager, Customer.branch,
                      Customer.tier, Customer.status, Customer.aum, literal(now, AumSnapshot.taken_at.type))
        session.execute(insert(AumSnapshot).from_select(columns, rows))
        count = int(session.scalar(select(func.count()).select_from(AumSnapshot)
                                   .where(AumSnapshot.month == month)) or 0)
        audit.append(session, stream="report:aum_snapshot", actor=actor.username, action="report.aum_snapshot",
                     subject_type="report", subject_id=month.isoformat(), at=now, after={"customers": count})
        return SnapshotResult(month, count, taken=True)
