"""Synthetic bank history for training and testing the scores when no real history exists. Not real data.

Every figure measured on this history describes the generator below, not any bank's customers; pages
and reports that show such figures say "synthetic data". The history is written into a database with
CareFlow's own tables (customers, month-start ``aum_snapshot`` rows with AUM and status, holdings, complaints,
sent messages, status-change audit events), so training on it runs exactly the feature and label code
(:mod:`engine.prediction.features`, :mod:`engine.prediction.labels`) used on a bank's own data.

Data-generating process, one step per month for each customer (seeded, reproducible):

- At the start: age 22–78; tenure 0.2–20 years (uniform in log); a latent engagement ``e ~ N(0, 1)``;
  log AUM ~ N(10.8, 1.2) + 0.3·e (median about ¥50,000); risk level C1–C5, lower when older; products
  held: deposits (85 %), WMP, funds, insurance and structured deposits more likely with more AUM, a
  higher risk level (WMP, funds) or age (insurance).
- Complaints: probability sigmoid(−4.0 − 0.4·e + 1.0·draining) a month; rated 1–2 with probability
  0.35 (0.6 while draining), 3–5 otherwise, unrated one time in five.
- Messages: up to three a month, each with probability 0.2 + 0.1·max(e, 0).
- AUM: drifts by N(0.004 + 0.006·e, 0.06) in log a month; while *draining*, falls 40 % a month.
- Churn: a customer starts draining with monthly hazard sigmoid(−5.0 + 1.4·[complaint rated 1–2 within 6
  months] + 0.6·[any complaint within 6 months] − 0.45·(families held − 1) + 0.8·[tenure < 2 years]
  − 0.35·e + 0.8·[AUM down 15 %+ over 6 months]). After 2–4 months of draining, 70 % become dormant
  (60 %) or closed (40 %), with a ``customer.status_changed`` audit event; the others stay active with
  what little is left ("silent" churn, seen only through the AUM fall).
- Purchases of a family not held: probability sigmoid(a_f + 0.5·(log AUM − 10.8) + b_f·(risk − 3) + 0.5·e
  + 0.35·messages in the last 3 months + 0.4·[holds another investment family] − 1.5·draining) a month,
  with a_f = deposit −3.5, WMP −3.6, fund −4.0, insurance −4.4 (+0.03 per year of age over 40),
  structured −4.6 and b_f = 0, 0.3, 0.6, 0, 0.2. Structured deposits mature after 6 months.
- No process instances are generated: ``interactions_180d`` is 0 throughout and gets no weight.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from engine import audit
from engine.complaints.models import Complaint
from engine.customers.accounts_models import CustomerHolding, Product
from engine.customers.models import Customer
from engine.db.base import Base
from engine.db.protected import cipher_of
from engine.outbox.models import OutboxMessage
from engine.prediction.labels import Dataset, build_datasets, snapshots
from engine.privacy import Where
from engine.reporting.models import AumSnapshot

PRODUCTS = {"deposit": "SYN-DEP", "wmp": "SYN-WMP", "fund": "SYN-FUND", "insurance": "SYN-INS", "structured": "SYN-SD"}
BUY_A = {"deposit": -3.5, "wmp": -3.6, "fund": -4.0, "insurance": -4.4, "structured": -4.6}
BUY_B = {"deposit": 0.0, "wmp": 0.3, "fund": 0.6, "insurance": 0.0, "structured": 0.2}
INVEST = ("wmp", "fund", "insurance", "structured")
ACTOR = "synthetic"


def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@dataclass
class _Person:
    id: str
    born: date
    since: date
    e: float
    log_aum: float
    risk: int
    holds: dict[str, date | None] = field(default_factory=dict)  # family → maturity (None: open-ended)
    draining: int = 0  # months left draining (0: not)
    silent: bool = False
    status: str = "active"
    left_at: datetime | None = None
    aum_history: list[float] = field(default_factory=list)
    complaints: list[tuple[date, int | None]] = field(default_factory=list)
    sent: list[date] = field(default_factory=list)


@dataclass
class _Rows:
    customers: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    holdings: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


def generate(session: Session, *, customers: int, start: date, months: int, seed: int, zone: ZoneInfo) -> None:
    """Write ``months`` of history from ``start`` for ``customers`` synthetic customers into ``session``."""
    rng = random.Random(seed)
    out = _Rows()
    bounds = [start + relativedelta(months=m) for m in range(months + 1)]
    for number in range(customers):
        person = _new_person(rng, number, start, out)
        for month, following in zip(bounds, bounds[1:], strict=False):
            _step(rng, person, month, following, out, zone)
        out.customers.append(_customer_row(person, bounds[-1], zone))
    session.add_all([Product(code=code, name=f"合成{family}", family=family, risk_level=2, active=True)
                     for family, code in PRODUCTS.items()])
    session.flush()
    cipher = cipher_of(session)  # names and birth dates are stored encrypted, as the bank's own rows are
    for row in out.customers:
        for name, value in (("name", row.pop("name")), ("birth_date", row.pop("birth_date").isoformat())):
            row[f"{name}_enc"] = cipher.encrypt(value, Where("customer", name, row["id"]))
    connection = session.connection()
    for model, rows in ((Customer, out.customers), (AumSnapshot, out.snapshots), (CustomerHolding, out.holdings),
                        (Complaint, out.complaints), (OutboxMessage, out.messages)):
        if rows:
            connection.execute(insert(model), rows)


def _new_person(rng: random.Random, number: int, start: date, out: _Rows) -> _Person:
    age = rng.uniform(22, 78)
    e = rng.gauss(0, 1)
    tenure = math.exp(rng.uniform(math.log(0.2), math.log(20)))
    risk = max(1, min(5, round(rng.gauss(3.4 - (age - 45) / 25, 1.0))))
    person = _Person(id=f"S{number:06d}", born=start - timedelta(days=int(age * 365.25)),
                     since=start - timedelta(days=int(tenure * 365.25)), e=e, log_aum=rng.gauss(10.8, 1.2) + 0.3 * e,
                     risk=risk)
    odds = {"deposit": 1.7, "wmp": -1 + 0.6 * (person.log_aum - 10.8) + 0.3 * (risk - 3),
            "fund": -1.5 + 0.5 * (risk - 3), "insurance": -1.8 + 0.02 * (age - 40),
            "structured": -2.5 + 0.5 * (person.log_aum - 10.8)}
    for family, z in odds.items():
        if rng.random() < _sig(z):
            person.holds[family] = None
            bought = max(person.since, start - timedelta(days=rng.randrange(30, 1000)))
            out.holdings.append({"customer_id": person.id, "product_code": PRODUCTS[family], "bought_on": bought,
                                 "amount": Decimal(str(round(math.exp(person.log_aum) * 0.3, 2))), "matures_on": None,
                                 "status": "held", "source": "import"})
    return person


def _step(rng: random.Random, p: _Person, month: date, following: date, out: _Rows, zone: ZoneInfo) -> None:
    if p.status != "active":
        return
    for family, matures in list(p.holds.items()):
        if matures is not None and matures <= month:
            del p.holds[family]
    day = month + timedelta(days=rng.randrange(28))
    if rng.random() < _sig(-4.0 - 0.4 * p.e + 1.0 * bool(p.draining)):
        rated = None if rng.random() < 0.2 else (rng.choice((1, 2)) if rng.random() < (0.6 if p.draining else 0.35)
                                                 else rng.choice((3, 4, 5)))
        p.complaints.append((day, rated))
        out.complaints.append(_complaint_row(p, day, rated, len(out.complaints), zone))
    for _ in range(3):
        if rng.random() < 0.2 + 0.1 * max(p.e, 0):
            sent = month + timedelta(days=rng.randrange(28))
            p.sent.append(sent)
            out.messages.append(_message_row(p, sent, len(out.messages), zone))
    _buy(rng, p, month, out)
    _move_aum(rng, p, month, zone)
    out.snapshots.append({"month": following, "customer_id": p.id, "tier": "mass", "status": p.status,
                          "aum": Decimal(str(round(math.exp(p.log_aum), 2))), "taken_at": _at(following, zone)})


def _recent(p: _Person, month: date) -> tuple[bool, bool]:
    window = [rated for day, rated in p.complaints if day >= month - timedelta(days=182)]
    return bool(window), any(rated is not None and rated <= 2 for rated in window)


def _move_aum(rng: random.Random, p: _Person, month: date, zone: ZoneInfo) -> None:
    if p.draining:
        p.log_aum += math.log(0.6)
        p.draining -= 1
        if p.draining == 0 and not p.silent:
            p.status = rng.choice(("dormant", "dormant", "dormant", "closed", "closed"))
            p.left_at = _at(month + timedelta(days=rng.randrange(28)), zone)
    else:
        p.log_aum += rng.gauss(0.004 + 0.006 * p.e, 0.06)
        any_complaint, unhappy = _recent(p, month)
        fell = len(p.aum_history) >= 6 and p.log_aum - p.aum_history[-6] < math.log(0.85)
        tenure = (month - p.since).days / 365.25
        hazard = _sig(-5.0 + 1.4 * unhappy + 0.6 * any_complaint - 0.45 * (len(p.holds) - 1) + 0.8 * (tenure < 2)
                      - 0.35 * p.e + 0.8 * fell)
        if rng.random() < hazard:
            p.draining, p.silent = rng.randint(2, 4), rng.random() < 0.3
    p.aum_history.append(p.log_aum)


def _buy(rng: random.Random, p: _Person, month: date, out: _Rows) -> None:
    p.sent = [sent for sent in p.sent if sent >= month - timedelta(days=91)]
    messages = len(p.sent)
    other = any(f in p.holds for f in INVEST)
    age = (month - p.born).days / 365.25
    for family in PRODUCTS:
        if family in p.holds:
            continue
        a = BUY_A[family] + (0.03 * (age - 40) if family == "insurance" else 0.0)
        z = (a + 0.5 * (p.log_aum - 10.8) + BUY_B[family] * (p.risk - 3) + 0.5 * p.e + 0.35 * messages
             + 0.4 * (other and family != "deposit") - 1.5 * bool(p.draining))
        if rng.random() < _sig(z):
            bought = month + timedelta(days=rng.randrange(28))
            matures = bought + relativedelta(months=6) if family == "structured" else None
            p.holds[family] = matures
            amount = Decimal(str(round(math.exp(p.log_aum) * rng.uniform(0.1, 0.4), 2)))
            out.holdings.append({"customer_id": p.id, "product_code": PRODUCTS[family], "amount": amount,
                                 "bought_on": bought, "matures_on": matures, "status": "held", "source": "import"})


def _at(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC)


def _customer_row(p: _Person, end: date, zone: ZoneInfo) -> dict[str, Any]:
    created = _at(p.since, zone)
    return {"id": p.id, "name": "合成客户", "birth_date": p.born, "customer_since": p.since, "status": p.status,
            "aum": Decimal(str(round(math.exp(p.log_aum), 2))), "risk_level": p.risk, "tier": "mass",
            "created_at": created, "updated_at": p.left_at or _at(end, zone)}


def _complaint_row(p: _Person, day: date, rated: int | None, n: int, zone: ZoneInfo) -> dict[str, Any]:
    at = _at(day, zone)
    return {"case_no": f"SYN{n:08d}", "customer_id": p.id, "channel": "phone",
            "business_type": "rmb_savings", "cause": "service_attitude", "summary": "synthetic", "status": "closed",
            "received_at": at, "clock_started_on": day, "target_due_on": day, "legal_due_on": day, "warn_on": day,
            "satisfaction": rated, "source": "synthetic", "source_ref": f"syn-{n}", "created_at": at, "updated_at": at}


def _message_row(p: _Person, day: date, n: int, zone: ZoneInfo) -> dict[str, Any]:
    at = _at(day, zone)
    return {"idempotency_key": f"syn-{n}", "customer_id": p.id, "channel": "sms", "purpose": "service",
            "template": "synthetic", "params": {}, "status": "sent", "next_attempt_at": at, "created_at": at,
            "sent_at": at, "finished_at": at}


def record_status_changes(session: Session) -> int:
    """The audit events that date each synthetic customer's departure (as the bank's own events would)."""
    rows = session.query(Customer.id, Customer.status, Customer.updated_at).filter(Customer.status != "active").all()
    for cid, status, at in rows:
        audit.append(session, stream=f"customer:{cid}", actor=ACTOR, action="customer.status_changed",
                     subject_type="customer", subject_id=cid, at=at, before={"status": "active"},
                     after={"status": status})
    return len(rows)


def history_datasets(*, until: date, customers: int = 2000, months: int = 30, seed: int = 7,
                     zone: ZoneInfo | None = None) -> dict[str, Dataset]:
    """Generate history ending at ``until`` in a private in-memory SQLite database and build every model's rows.

    Snapshots are the month starts from the 7th month on (so "AUM 6 months earlier" exists) whose outcome
    window ends by ``until``.
    """
    zone = zone or ZoneInfo("Asia/Shanghai")
    start = until.replace(day=1) - relativedelta(months=months)
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            generate(session, customers=customers, start=start, months=months, seed=seed, zone=zone)
            record_status_changes(session)
            session.commit()
            days = [d for d in snapshots(start + relativedelta(months=months), months) if
                    d >= start + relativedelta(months=6)]
            return build_datasets(session, days, zone)
    finally:
        engine.dispose()
