"""Training rows from history: who was a customer on a snapshot day, and what happened in the 6 months after.

Labels (the issue's definitions):

- **churn** at snapshot ``d``: the customer became dormant or closed within ``(d, d + 6 months]``, or their
  AUM fell by half or more in that window (the lowest AUM recorded in the window — month-start
  ``aum_snapshot`` rows and ``tier_history`` — is at most 50 % of the AUM on ``d``, which must be at least
  ¥1,000). A status change is dated by the first audit event on the customer's stream that records it
  (``customer.status_changed``, or ``customer.updated`` listing ``status``), else by the first month-start
  snapshot showing it, else by ``customer.updated_at``.
- **propensity:<family>** at ``d``: the customer bought a product of that family within ``(d, d + 6 months]``
  (``customer_holding.bought_on``, or ``sale.sold_at``); only customers *not* holding the family on ``d``
  are rows of that model.

A customer is a row at ``d`` if they had joined by then (``customer_since``, else ``created_at``) and had
not churned by status before it. Snapshots are month starts whose 6-month window has ended.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.customers.accounts_models import CustomerHolding, Product, TierChange
from engine.customers.models import Customer, CustomerStatus
from engine.db.models import AuditEvent
from engine.prediction.features import AUM_FALL_FLOOR, FAMILIES, Row, compute_features, cutoff
from engine.reporting.models import AumSnapshot
from engine.sales.models import Sale

HORIZON = relativedelta(months=6)
CHURNED = (CustomerStatus.DORMANT.value, CustomerStatus.CLOSED.value)
KINDS: tuple[str, ...] = ("churn", *(f"propensity:{family}" for family in FAMILIES))
BATCH = 1000


@dataclass
class Dataset:
    """Rows of one model kind: (snapshot day, customer, features, label), in snapshot order."""

    kind: str
    rows: list[tuple[date, str, Row, int]] = field(default_factory=list)

    @property
    def positives(self) -> int:
        return sum(label for *_, label in self.rows)


def snapshots(until: date, months: int) -> list[date]:
    """Month starts ``d`` with ``d + 6 months <= until`` (their outcome is known), the latest ``months`` of them."""
    last = until.replace(day=1)
    while last + HORIZON > until:
        last -= relativedelta(months=1)
    return [last - relativedelta(months=k) for k in range(months - 1, -1, -1)]


def status_changes(session: Session, zone: ZoneInfo) -> dict[str, datetime]:
    """When each dormant or closed customer left (see the module docstring)."""
    left = dict(session.execute(select(Customer.id, Customer.updated_at).where(Customer.status.in_(CHURNED))).all())
    for cid, month in session.execute(select(AumSnapshot.customer_id, func.min(AumSnapshot.month))
                                      .where(AumSnapshot.status.in_(CHURNED)).group_by(AumSnapshot.customer_id)):
        gone = cutoff(month - timedelta(days=1), zone)  # gone by that month's start at the latest
        left[cid] = min(left.get(cid, gone), gone)
    if not left:
        return {}
    streams, dated = [f"customer:{cid}" for cid in left], set()
    for i in range(0, len(streams), BATCH):
        for stream, action, after, at in session.execute(
                select(AuditEvent.stream, AuditEvent.action, AuditEvent.after, AuditEvent.at)
                .where(AuditEvent.stream.in_(streams[i:i + BATCH]),
                       AuditEvent.action.in_(("customer.status_changed", "customer.updated")))
                .order_by(AuditEvent.id)):
            data = after or {}
            cid = stream.removeprefix("customer:")
            if action == "customer.status_changed" or "status" in (data.get("fields") or []):
                left[cid] = min(left[cid], at) if cid in dated else at
                dated.add(cid)
    return left


def population(session: Session, day: date, zone: ZoneInfo, left: dict[str, datetime]) -> list[str]:
    cut = cutoff(day, zone)
    ids = []
    for cid, since, created in session.execute(
            select(Customer.id, Customer.customer_since, Customer.created_at).order_by(Customer.id)):
        joined = since <= day if since else created < cut
        if joined and not (cid in left and left[cid] < cut):
            ids.append(cid)
    return ids


def churn_labels(session: Session, ids: list[str], day: date, zone: ZoneInfo, left: dict[str, datetime],
                 aum_now: dict[str, float]) -> dict[str, int]:
    start, end = cutoff(day, zone), cutoff(day + HORIZON, zone)
    lowest: dict[str, float] = {}
    for cid, aum in [*session.execute(
            select(TierChange.customer_id, func.min(TierChange.aum))
            .where(TierChange.customer_id.in_(ids), TierChange.changed_at >= start, TierChange.changed_at < end)
            .group_by(TierChange.customer_id)), *session.execute(
            select(AumSnapshot.customer_id, func.min(AumSnapshot.aum))
            .where(AumSnapshot.customer_id.in_(ids), AumSnapshot.month > day, AumSnapshot.month <= day + HORIZON)
            .group_by(AumSnapshot.customer_id))]:
        lowest[cid] = min(lowest.get(cid, float(aum)), float(aum))
    labels = {}
    for cid in ids:
        aum = aum_now.get(cid, 0.0)
        fell = cid in lowest and aum >= AUM_FALL_FLOOR and float(lowest[cid]) <= 0.5 * aum
        labels[cid] = int((cid in left and start <= left[cid] < end) or fell)
    return labels


def buyers(session: Session, ids: list[str], day: date, zone: ZoneInfo) -> dict[str, set[str]]:
    """Family → customers of ``ids`` who bought a product of it within the 6 months after ``day``."""
    found: dict[str, set[str]] = {family: set() for family in FAMILIES}
    bought = session.execute(
        select(CustomerHolding.customer_id, Product.family).join(Product, Product.code == CustomerHolding.product_code)
        .where(CustomerHolding.customer_id.in_(ids), CustomerHolding.bought_on > day,
               CustomerHolding.bought_on <= day + HORIZON, CustomerHolding.status != "cancelled"))
    sold = session.execute(
        select(Sale.customer_id, Product.family).join(Product, Product.code == Sale.product_code)
        .where(Sale.customer_id.in_(ids), Sale.sold_at >= cutoff(day, zone),
               Sale.sold_at < cutoff(day + HORIZON, zone), Sale.cancelled_at.is_(None)))
    for cid, family in [*bought, *sold]:
        if family in found:
            found[family].add(cid)
    return found


def build_datasets(session: Session, days: list[date], zone: ZoneInfo) -> dict[str, Dataset]:
    """Every kind's rows over the snapshot ``days`` (read-only; batches of 1,000 customers)."""
    left = status_changes(session, zone)
    sets = {kind: Dataset(kind) for kind in KINDS}
    for day in days:
        members = population(session, day, zone, left)
        everyone = compute_features(session, day, None, zone)
        for ids in _batches(members):
            rows = {cid: everyone[cid] for cid in ids if cid in everyone}
            aum_now = {cid: math.expm1(row["log_aum"]) for cid, row in rows.items()}  # the AUM on ``day``
            churn = churn_labels(session, ids, day, zone, left, aum_now)
            bought = buyers(session, ids, day, zone)
            for cid in ids:
                row = rows.get(cid)
                if row is None:
                    continue
                sets["churn"].rows.append((day, cid, row, churn[cid]))
                for family in FAMILIES:
                    if not row[f"holds_{family}"]:
                        sets[f"propensity:{family}"].rows.append((day, cid, row, int(cid in bought[family])))
    return sets


def _batches(ids: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), BATCH):
        yield ids[i:i + BATCH]
