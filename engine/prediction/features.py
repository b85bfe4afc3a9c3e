"""Features of every customer as of a bank-local day: one set of grouped queries per batch of customers.

"As of ``day``" means what the bank knew at the end of that day (bank-local midnight after it, in UTC):
nothing dated later is read. Each query filters on an indexed prefix (``customer_id`` plus a date:
``ix_customer_holding_customer``, ``ix_tier_history_customer``, ``ix_complaint_customer_status``,
``ix_outbox_message_customer_sent``, ``process_instance.customer_id``) and groups by customer, so a
batch of 1,000 customers costs seven queries whatever their history.

Where a past day cannot be reconstructed exactly, the approximation is stated here and on the model's
page rather than hidden:

- AUM on a past day is the newest of the month-start ``aum_snapshot`` (taken by the reporting job on the
  1st) and the latest ``tier_history`` AUM recorded up to then; without either, the customer's current AUM
  stands in.
  Scoring today (``current=True``) reads ``customer.aum``.
- An open current, savings or time-deposit account opened by ``day`` counts as holding the deposit family
  (a closed account's closing date is not stored, so closed ones never count).
- A holding counts as held on ``day`` if bought by then, not cancelled and not matured by then; the
  redemption date of a redeemed holding is not stored, so for past days it still counts (today:
  ``status == 'held'`` only).
- A complaint's satisfaction rating may have been given after a past ``day`` (a small look-ahead).
- The customer's risk level is the current one (questionnaire history is not used).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_, select, true
from sqlalchemy.orm import Session

from engine.complaints.models import Complaint
from engine.customers.accounts_models import CustomerAccount, CustomerHolding, Product, TierChange
from engine.customers.models import Customer
from engine.db.models import ProcessInstance
from engine.db.protected import cipher_of
from engine.outbox.models import OutboxMessage
from engine.privacy import Where
from engine.reporting.models import AumSnapshot

# Product families a propensity model is trained for (loans and cards are credit decisions, not cross-sell).
FAMILIES: dict[str, tuple[str, str]] = {
    "deposit": ("存款", "deposits"), "wmp": ("理财", "wealth-management products"), "fund": ("基金", "funds"),
    "insurance": ("保险", "insurance"), "structured": ("结构性存款", "structured deposits"),
}
DEPOSIT_ACCOUNTS = ("current", "savings", "time_deposit")
AGE_UNKNOWN = 45.0  # imputed when the birth date is missing (the mean adult age in the demo book)
MONTHS_CAP = 60.0  # "months since the last purchase" for customers who never bought (or long ago)
AUM_FALL_FLOOR = 1000  # below this AUM a fall is noise, not churn


@dataclass(frozen=True)
class Feature:
    name: str
    zh: str
    en: str


FEATURES: tuple[Feature, ...] = (
    Feature("tenure_years", "客户关系年限", "years with the bank"),
    Feature("age", "年龄", "age"),
    Feature("log_aum", "资产规模", "assets under management (log)"),
    Feature("aum_change_6m", "近6个月资产变化", "change in AUM over 6 months"),
    Feature("n_families", "持有产品类别数", "product families held"),
    Feature("months_since_purchase", "距上次购买月数", "months since the last purchase"),
    Feature("complaints_180d", "近180天投诉次数", "complaints in 180 days"),
    Feature("low_satisfaction_180d", "近180天不满意投诉", "complaints rated 1–2 in 180 days"),
    Feature("contacts_90d", "近90天触达次数", "messages sent in 90 days"),
    Feature("interactions_180d", "近180天业务办理次数", "processes started in 180 days"),
    Feature("risk_level", "风险承受能力等级", "risk level (C1–C5)"),
    *(Feature(f"holds_{family}", f"已持有{zh}", f"holds {en}") for family, (zh, en) in FAMILIES.items()),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
LABELS: dict[str, Feature] = {f.name: f for f in FEATURES}

Row = dict[str, float]


def cutoff(day: date, zone: ZoneInfo) -> datetime:
    """The end of the bank-local ``day`` as an aware UTC datetime: the first instant not "as of" it."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def compute_features(session: Session, day: date, customer_ids: Sequence[str] | None, zone: ZoneInfo, *,
                     current: bool = False) -> dict[str, Row]:
    """The feature row of each of ``customer_ids`` as of ``day`` (customers unknown to the table are left out).

    ``None`` reads every customer with whole-table grouped queries (training reads snapshots whole); scoring
    passes batches of ids.
    """
    ids = None if customer_ids is None else list(customer_ids)
    if ids is not None and not ids:
        return {}
    cut = cutoff(day, zone)
    rows = _base(session, ids, day)
    _holdings(session, ids, day, current, rows)
    _aum(session, ids, day, zone, current, rows)
    _activity(session, ids, cut, rows)
    return rows


def _among(column: Any, ids: list[str] | None) -> ColumnElement[bool]:
    return true() if ids is None else column.in_(ids)


def _base(session: Session, ids: list[str] | None, day: date) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    cipher = cipher_of(session)
    for cid, born_enc, since, aum, level in session.execute(select(
            Customer.id, Customer.birth_date_enc, Customer.customer_since, Customer.aum, Customer.risk_level)
            .where(_among(Customer.id, ids))):
        born_text = cipher.decrypt(born_enc, Where("customer", "birth_date", cid))
        born = date.fromisoformat(born_text) if born_text else None
        row = dict.fromkeys(FEATURE_NAMES, 0.0)
        row["tenure_years"] = max((day - since).days, 0) / 365.25 if since else 0.0
        row["age"] = (day - born).days / 365.25 if born and born <= day else AGE_UNKNOWN
        row["risk_level"] = float(level or 0)
        row["log_aum"] = math.log1p(max(float(aum or 0), 0.0))  # replaced by the AUM on ``day`` in _aum
        row["months_since_purchase"] = MONTHS_CAP
        rows[cid] = row
    return rows


def _holdings(session: Session, ids: list[str] | None, day: date, current: bool, rows: dict[str, Row]) -> None:
    held = [_among(CustomerHolding.customer_id, ids), CustomerHolding.bought_on <= day,
            CustomerHolding.status != "cancelled",
            or_(CustomerHolding.matures_on.is_(None), CustomerHolding.matures_on > day)]
    if current:
        held.append(CustomerHolding.status == "held")
    for cid, family in session.execute(
            select(CustomerHolding.customer_id, Product.family).join(Product, Product.code == CustomerHolding.product_code)
            .where(*held).group_by(CustomerHolding.customer_id, Product.family)):
        if cid in rows and family in FAMILIES:
            rows[cid][f"holds_{family}"] = 1.0
            rows[cid]["n_families"] += 1.0
    for cid in session.scalars(  # a deposit account is a deposit held (the family's products are accounts too)
            select(CustomerAccount.customer_id).distinct()
            .where(_among(CustomerAccount.customer_id, ids), CustomerAccount.kind.in_(DEPOSIT_ACCOUNTS),
                   CustomerAccount.status != "closed", or_(CustomerAccount.opened_on.is_(None),
                                                             CustomerAccount.opened_on <= day))):
        if cid in rows and not rows[cid]["holds_deposit"]:
            rows[cid]["holds_deposit"] = 1.0
            rows[cid]["n_families"] += 1.0
    for cid, last in session.execute(
            select(CustomerHolding.customer_id, func.max(CustomerHolding.bought_on))
            .where(_among(CustomerHolding.customer_id, ids), CustomerHolding.bought_on <= day,
                   CustomerHolding.status != "cancelled").group_by(CustomerHolding.customer_id)):
        if cid in rows and last is not None:
            rows[cid]["months_since_purchase"] = min((day - last).days / 30.44, MONTHS_CAP)


def aum_on(session: Session, ids: list[str] | None, day: date, zone: ZoneInfo) -> dict[str, float]:
    """Each customer's AUM on ``day``: the newer of the latest month-start ``aum_snapshot`` (the reporting job's)
    and the latest ``tier_history`` AUM recorded by the end of ``day``."""
    found: dict[str, tuple[date, float]] = {}
    month = session.scalar(select(func.max(AumSnapshot.month)).where(AumSnapshot.month <= day))
    if month is not None:
        for cid, aum in session.execute(select(AumSnapshot.customer_id, AumSnapshot.aum)
                                        .where(AumSnapshot.month == month, _among(AumSnapshot.customer_id, ids))):
            found[cid] = (month, float(aum))
    cut = cutoff(day, zone)
    latest = (select(TierChange.customer_id, func.max(TierChange.changed_at).label("at"))
              .where(_among(TierChange.customer_id, ids), TierChange.changed_at < cut)
              .group_by(TierChange.customer_id).subquery())
    for cid, at, aum in session.execute(select(TierChange.customer_id, TierChange.changed_at, TierChange.aum).join(
            latest, (TierChange.customer_id == latest.c.customer_id) & (TierChange.changed_at == latest.c.at))):
        recorded = at.astimezone(zone).date()
        if cid not in found or recorded >= found[cid][0]:
            found[cid] = (recorded, float(aum))
    return {cid: aum for cid, (_, aum) in found.items()}


def _aum(session: Session, ids: list[str] | None, day: date, zone: ZoneInfo, current: bool,
         rows: dict[str, Row]) -> None:
    now = {} if current else aum_on(session, ids, day, zone)
    earlier = aum_on(session, ids, day - timedelta(days=182), zone)
    for cid, row in rows.items():
        aum = now.get(cid, math.expm1(row["log_aum"]))
        row["log_aum"] = math.log1p(max(aum, 0.0))
        if cid in earlier:
            row["aum_change_6m"] = max(-1.0, min(3.0, (aum - earlier[cid]) / max(earlier[cid], 1.0)))


def _activity(session: Session, ids: list[str] | None, cut: datetime, rows: dict[str, Row]) -> None:
    low = case((Complaint.satisfaction <= 2, 1), else_=0)
    for cid, count, unhappy in session.execute(
            select(Complaint.customer_id, func.count(), func.sum(low))
            .where(_among(Complaint.customer_id, ids), Complaint.received_at >= cut - timedelta(days=180),
                   Complaint.received_at < cut).group_by(Complaint.customer_id)):
        if cid in rows:
            rows[cid]["complaints_180d"], rows[cid]["low_satisfaction_180d"] = float(count), float(unhappy or 0)
    for feature, customer, at, days in (("contacts_90d", OutboxMessage.customer_id, OutboxMessage.sent_at, 90),
                                        ("interactions_180d", ProcessInstance.customer_id, ProcessInstance.started_at,
                                         180)):
        for cid, count in session.execute(
                select(customer, func.count())
                .where(_among(customer, ids), at >= cut - timedelta(days=days), at < cut).group_by(customer)):
            if cid in rows:
                rows[cid][feature] = float(count)
