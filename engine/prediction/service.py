"""Prediction use cases: retrain the scores, score every customer, act on high scores, list scores role-aware.

Kinds: ``churn`` and ``propensity:<family>`` (see :mod:`engine.prediction`). ``retrain`` learns from the
bank's own history (``source="bank"``: month-start snapshots of the last two years whose 6-month outcome
is known) or from generated history (``source="synthetic"``; every figure from it is labelled synthetic).
A kind whose history is too thin gets an ``insufficient`` run that says why and is never used to score.

``start_actions`` turns scores into work, never into a sale: a churn risk at or above
``prediction_churn_threshold`` starts a ``periodic_revisit`` with occasion ``retention`` (business key
``retention:<customer>:<YYYY-MM>``, once a month at most); a propensity at or above
``prediction_propensity_threshold`` opens a ``cross_sell_followup`` lead (source ``prediction``) only for a
product of that family the suitability rule allows for this customer today (docs/domain.md §2.2–§2.8:
level, questionnaire validity, qualified investor, age), and the lead's own process checks suitability
again before any contact. No lead for customers who asked not to be disturbed (marketing, docs/domain.md §3.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.customers.accounts_models import Product
from engine.customers.models import Customer, CustomerStatus
from engine.db.session import unit_of_work
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.prediction import synthetic
from engine.prediction.features import FEATURE_NAMES, compute_features
from engine.prediction.labels import KINDS, Dataset, build_datasets, snapshots
from engine.prediction.model import Model, train
from engine.prediction.models import CustomerScore, ModelRun
from engine.privacy import mask_name
from engine.sales import records
from engine.sales.service import create_lead
from engine.sales.suitability import evaluate, product_level
from engine.services.authz import require_any_role, require_role
from engine.services.instances import StartRequest, start_instances
from engine.views import SYSTEM, Actor

HISTORY_MONTHS = 24
SOURCES = ("bank", "synthetic")
BATCH = 1000
REVISIT_PROCESS = "periodic_revisit"


@dataclass(frozen=True)
class RunView:
    id: int
    kind: str
    source: str
    as_of: date
    trained_at: datetime
    trained_by: str
    rows: int
    status: str
    metrics: dict[str, Any]
    coefficients: dict[str, Any]

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"


@dataclass(frozen=True)
class ScoreView:
    customer_id: str
    name: str  # masked
    manager: str | None
    tier: str
    kind: str
    score: float
    reasons: list[dict[str, Any]]
    model_run_id: int
    scored_at: datetime
    synthetic: bool  # the model learnt from synthetic history


@dataclass(frozen=True)
class ActionResult:
    day: date
    revisits: int
    leads: int
    blocked_by_suitability: int
    skipped: int


def _run_view(row: ModelRun) -> RunView:
    return RunView(row.id, row.kind, row.source, row.as_of, row.trained_at, row.trained_by, row.rows, row.status,
                   row.metrics, row.coefficients)


def retrain(ctx: EngineContext, day: date, actor: Actor, *, source: str | None = None, customers: int = 1500,
            seed: int = 7) -> list[RunView]:
    """Train every kind as of ``day``; each new active run supersedes the kind's earlier active one.

    Adds ``model_run`` rows and a ``prediction.retrained`` audit event. ``customers``/``seed`` size the
    synthetic history. Raises InvalidInputError (source), PermissionDeniedError (supervisors only).
    """
    require_role(actor, "supervisor")
    source = source or ctx.settings.prediction.training_source
    if source not in SOURCES:
        raise InvalidInputError(f"source must be one of {', '.join(SOURCES)}")
    zone = ctx.settings.zone
    if source == "synthetic":
        datasets = synthetic.history_datasets(until=day, customers=customers, seed=seed, zone=zone)
    else:
        with unit_of_work(ctx.sessions, write=False) as session:
            datasets = build_datasets(session, snapshots(day, HISTORY_MONTHS), zone)
    results = {kind: train(datasets.get(kind) or Dataset(kind), FEATURE_NAMES) for kind in KINDS}
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        rows = []
        for kind, trained in results.items():
            if trained.status == "active":
                session.execute(update(ModelRun).where(ModelRun.kind == kind, ModelRun.status == "active")
                                .values(status="superseded"))
            rows.append(ModelRun(kind=kind, source=source, as_of=day, trained_at=now, trained_by=actor.username,
                                 rows=trained.rows, features=list(FEATURE_NAMES), status=trained.status,
                                 coefficients=trained.model.to_json() if trained.model else {},
                                 metrics=trained.metrics | {"data": source}))
        session.add_all(rows)
        session.flush()
        audit.append(session, stream="prediction", actor=actor.username, action="prediction.retrained",
                     subject_type="model_run", subject_id=",".join(str(r.id) for r in rows), at=now,
                     after={"source": source, "as_of": day.isoformat(), "status": {r.kind: r.status for r in rows}})
        return [_run_view(r) for r in rows]


def _active_models(session: Session) -> dict[str, tuple[int, Model, bool]]:
    found = {}
    for run in session.scalars(select(ModelRun).where(ModelRun.status == "active").order_by(ModelRun.id)):
        found[run.kind] = (run.id, Model.from_json(run.kind, run.features, run.coefficients), run.source == "synthetic")
    return found


def score_all(ctx: EngineContext, day: date, actor: Actor) -> dict[str, int]:
    """Score every active customer with each kind's active model as of ``day``; returns counts per kind.

    Replaces the customers' ``customer_score`` rows (one transaction per 1,000 customers; scores of
    customers no longer active, or now holding the family, are removed). Raises PermissionDeniedError.
    """
    require_role(actor, "supervisor")
    now, zone, last = ctx.clock.now(), ctx.settings.zone, ""
    counts: dict[str, int] = {}
    while True:
        with unit_of_work(ctx.sessions) as session:
            models = _active_models(session)
            ids = list(session.scalars(select(Customer.id).where(
                Customer.id > last, Customer.status == CustomerStatus.ACTIVE.value).order_by(Customer.id).limit(BATCH)))
            if not ids:
                break
            session.execute(delete(CustomerScore).where(CustomerScore.customer_id.in_(ids)))
            features = compute_features(session, day, ids, zone, current=True)
            for kind, (run_id, model, _synthetic) in models.items():
                family = kind.partition(":")[2]
                for cid, row in features.items():
                    if family and row[f"holds_{family}"]:
                        continue  # holds the family already: no propensity to buy it
                    session.add(CustomerScore(customer_id=cid, kind=kind, score=model.score(row),
                                              reasons=model.explain(row), model_run_id=run_id, scored_at=now))
                    counts[kind] = counts.get(kind, 0) + 1
            last = ids[-1]
    with unit_of_work(ctx.sessions) as session:
        session.execute(delete(CustomerScore).where(CustomerScore.scored_at < now))
        audit.append(session, stream="prediction", actor=actor.username, action="prediction.scored",
                     subject_type="customer_score", subject_id=day.isoformat(), at=now, after={"counts": counts})
    return counts


def _reason_text(score: float, reasons: list[dict[str, Any]], what: tuple[str, str]) -> str:
    zh = "、".join(r["zh"] for r in reasons) or "—"
    en = ", ".join(r["en"] for r in reasons) or "—"
    return f"{what[0]} {score:.0%}（{zh}） {what[1]} {score:.0%} ({en})"[:256]


def start_actions(ctx: EngineContext, day: date, actor: Actor) -> ActionResult:
    """Retention revisits for high churn risks, cross-sell leads for high propensities (suitable products only).

    At most ``prediction_max_actions_per_run`` of each, highest scores first. Raises PermissionDeniedError,
    DefinitionNotFoundError (``periodic_revisit`` or ``cross_sell_followup`` not deployed).
    """
    require_role(actor, "supervisor")
    settings = ctx.settings
    limit = settings.prediction.max_actions_per_run
    with unit_of_work(ctx.sessions, write=False) as session:
        at_risk = session.execute(_high("churn", settings.prediction.churn_threshold).limit(limit)).all()
        keen = session.execute(_high("propensity:%", settings.prediction.propensity_threshold)
                               .where(Customer.do_not_disturb.is_(False)).limit(limit * 5)).all()
        offers: list[tuple[str, str, str]] = []
        blocked = 0
        for score, customer in keen:
            product = suitable_product(session, ctx, customer.id, score.kind.partition(":")[2], day)
            if product is None:
                blocked += 1
            elif len(offers) < limit:
                offers.append((customer.id, product, _reason_text(score.score, score.reasons, ("购买倾向", "propensity"))))
    requests = [StartRequest(f"retention:{c.id}:{day:%Y-%m}", c.id, {
        "customer_id": c.id, "occasion": "retention", "tier": c.tier, "manager": c.manager, "due_on": day.isoformat(),
        "reason": _reason_text(s.score, s.reasons, ("流失风险", "churn risk"))}) for s, c in at_risk]
    result = start_instances(ctx, process_key=REVISIT_PROCESS, requests=requests, actor=actor) if requests else None
    revisits, skipped = (len(result.started), len(result.skipped)) if result else (0, 0)
    leads = 0
    for customer_id, product_code, reason in offers:
        try:
            lead = create_lead(ctx, customer_id=customer_id, product_code=product_code, source="prediction",
                               reason=reason, actor=actor)
        except ConflictError:  # in the product's cooling-off: no contact about it (docs/domain.md §2.6)
            skipped += 1
            continue
        leads, skipped = leads + lead.created, skipped + (not lead.created)
    return ActionResult(day, revisits, leads, blocked, skipped)


def _high(kind_like: str, threshold: float) -> Any:
    return (select(CustomerScore, Customer).join(Customer, Customer.id == CustomerScore.customer_id)
            .where(CustomerScore.kind.like(kind_like), CustomerScore.score >= threshold,
                   Customer.status == CustomerStatus.ACTIVE.value)
            .order_by(CustomerScore.score.desc(), CustomerScore.customer_id))


def suitable_product(session: Session, ctx: EngineContext, customer_id: str, family: str, day: date) -> str | None:
    """The lowest-risk active product of ``family`` the suitability rule does not block for this customer today."""
    policy = records.policy_from(ctx.settings)
    products = session.scalars(select(Product).where(Product.family == family, Product.active.is_(True))).all()
    for product in sorted(products, key=lambda p: (product_level(p.risk_level, p.issuer_risk_level), p.code)):
        facts, _ = records.load_facts(session, ctx.settings, customer_id, product.code, day)
        if evaluate(facts, policy).allowed:
            return product.code
    return None


def _visible(stmt: Any, actor: Actor) -> Any:
    """Supervisors see every customer; other staff only the customers they manage."""
    return stmt if actor.is_supervisor else stmt.where(Customer.manager == actor.username)


def _score_views(session: Session, stmt: Any) -> list[ScoreView]:
    synthetic_runs = set(session.scalars(select(ModelRun.id).where(ModelRun.source == "synthetic")))
    return [ScoreView(c.id, mask_name(c.name), c.manager, c.tier, s.kind, s.score, s.reasons, s.model_run_id,
                      s.scored_at, s.model_run_id in synthetic_runs) for s, c in session.execute(stmt)]


def list_top_scores(ctx: EngineContext, *, kind: str, actor: Actor, limit: int = 50) -> list[ScoreView]:
    """The highest scores of ``kind`` the actor may see, highest first. Raises InvalidInputError."""
    require_any_role(actor)
    if kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}")
    if not 1 <= limit <= 200:
        raise InvalidInputError("limit must be between 1 and 200")
    stmt = (select(CustomerScore, Customer).join(Customer, Customer.id == CustomerScore.customer_id)
            .where(CustomerScore.kind == kind).order_by(CustomerScore.score.desc(), CustomerScore.customer_id)
            .limit(limit))
    with unit_of_work(ctx.sessions, write=False) as session:
        return _score_views(session, _visible(stmt, actor))


def customer_scores(ctx: EngineContext, customer_id: str, *, actor: Actor) -> list[ScoreView]:
    """One customer's scores (churn first), for their manager and supervisors; others get an empty list."""
    require_any_role(actor)
    stmt = (select(CustomerScore, Customer).join(Customer, Customer.id == CustomerScore.customer_id)
            .where(CustomerScore.customer_id == customer_id).order_by(CustomerScore.kind))
    with unit_of_work(ctx.sessions, write=False) as session:
        return _score_views(session, _visible(stmt, actor))


def list_model_runs(ctx: EngineContext, *, actor: Actor, limit: int = 30) -> list[RunView]:
    """Model runs, newest first, with their measured quality (any staff role)."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        return [_run_view(r) for r in session.scalars(
            select(ModelRun).order_by(ModelRun.trained_at.desc(), ModelRun.id.desc()).limit(limit))]


def get_model_run(ctx: EngineContext, run_id: int, *, actor: Actor) -> RunView:
    """One model run. Raises NotFoundError."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(ModelRun, run_id)
        if row is None:
            raise NotFoundError(f"no model run {run_id}")
        return _run_view(row)


def scheduled_jobs(ctx: EngineContext, day: date) -> list[tuple[str, Callable[[EngineContext, date], tuple[int, int]]]]:
    """The daily scan's prediction jobs for ``day``: retrain on the 1st of the month, score and act on Mondays.

    None until a first model was trained (``careflow scores retrain``): a bank opts in to predictions once,
    then the schedule keeps the models and scores fresh.
    """
    jobs: list[tuple[str, Callable[[EngineContext, date], tuple[int, int]]]] = []
    with unit_of_work(ctx.sessions, write=False) as session:
        if session.scalar(select(ModelRun.id).limit(1)) is None:
            return jobs
    if day.day == 1:
        jobs.append(("prediction_retrain", _scheduled_retrain))
    if day.weekday() == 0:
        jobs.append(("prediction_act", _scheduled_act))
    return jobs


def _scheduled_retrain(ctx: EngineContext, day: date) -> tuple[int, int]:
    runs = retrain(ctx, day, SYSTEM)
    active = sum(r.status == "active" for r in runs)
    return active, len(runs) - active


def _scheduled_act(ctx: EngineContext, day: date) -> tuple[int, int]:
    score_all(ctx, day, SYSTEM)
    done = start_actions(ctx, day, SYSTEM)
    return done.revisits + done.leads, done.blocked_by_suitability + done.skipped

