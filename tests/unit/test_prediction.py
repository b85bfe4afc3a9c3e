"""Prediction: features as of a day, labels, exact reasons, quality on synthetic history, actions that respect suitability."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.care.scans import run_daily_scans
from engine.complaints.models import Complaint
from engine.customers.accounts_models import CustomerAccount, CustomerHolding, TierChange
from engine.customers.customer360 import seed_products
from engine.customers.models import Customer
from engine.db.models import ProcessDefinition, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.prediction import model as pm
from engine.prediction import service as prediction
from engine.prediction import synthetic
from engine.prediction.features import FEATURE_NAMES, compute_features
from engine.prediction.labels import build_datasets, snapshots
from engine.prediction.models import CustomerScore, ModelRun
from engine.reporting.models import AumSnapshot
from engine.sales.models import SalesLead
from engine.views import SYSTEM
from tests.processes.test_cross_sell import add_customer, deploy_cross_sell
from tests.support.care import deploy_care

ZONE = ZoneInfo("Asia/Shanghai")
AT = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(UTC)


def _complaint(n: int, customer_id: str, received: str, satisfaction: int | None) -> Complaint:
    at = _at(received)
    day = at.date()
    return Complaint(case_no=f"T{n}", customer_id=customer_id, channel="phone", business_type="loans",
                     cause="service_attitude", summary="s", status="closed", received_at=at, clock_started_on=day,
                     target_due_on=day, legal_due_on=day, warn_on=day, satisfaction=satisfaction, source="t",
                     source_ref=str(n), created_at=at, updated_at=at)


def _history(ctx):
    """C1: hand-built history around 2025-03-03 (bank-local); C2: a plain newcomer."""
    seed_products(ctx)
    with unit_of_work(ctx.sessions) as session:
        for cid, since, aum in (("C1", date(2020, 3, 3), "40000"), ("C2", date(2025, 1, 1), "5000")):
            session.add(Customer(id=cid, name="王小明", birth_date=date(1965, 3, 3), customer_since=since,
                                 aum=Decimal(aum), risk_level=3, created_at=AT, updated_at=AT))
        definition = ProcessDefinition(key="service_request", version=1, name="s", sha256="0" * 64, deployed_by="t",
                                       deployed_at=AT)
        session.add(definition)
        session.flush()
        session.add_all([
            *(ProcessInstance(definition_id=definition.id, process_key="service_request", customer_id="C1",
                              status="completed", state="{}", state_version=1, revision=1, started_by="t",
                              started_at=_at(started), updated_at=AT)
              for started in ("2025-01-15T10:00", "2024-12-01T10:00",  # within 180 days
                              "2024-06-01T10:00",  # more than 180 days before
                              "2025-03-04T10:00")),  # after the day
            CustomerHolding(customer_id="C1", product_code="DEP-TD-3Y", amount=Decimal("1"), bought_on=date(2024, 6, 1)),
            CustomerHolding(customer_id="C1", product_code="WMP-FI-1Y", amount=Decimal("1"), bought_on=date(2024, 12, 1)),
            # matured before the day: bought (counts for "last purchase") but not held
            CustomerHolding(customer_id="C1", product_code="SD-NPP-6M", amount=Decimal("1"), bought_on=date(2024, 1, 5),
                            matures_on=date(2024, 7, 5), status="matured"),
            # bought after the day: invisible as of 2025-03-03
            CustomerHolding(customer_id="C1", product_code="FUND-BOND", amount=Decimal("1"), bought_on=date(2025, 3, 4)),
            CustomerAccount(customer_id="C2", external_id="A2", kind="savings", opened_on=date(2025, 1, 2), updated_at=AT),
            CustomerAccount(customer_id="C2", external_id="A3", kind="loan", opened_on=date(2025, 1, 2), updated_at=AT),
            _complaint(1, "C1", "2025-01-10T10:00", 1), _complaint(2, "C1", "2025-02-01T10:00", 4),
            _complaint(3, "C1", "2024-08-01T10:00", 1),  # more than 180 days before
            _complaint(4, "C1", "2025-03-04T10:00", 1),  # after the day
            TierChange(customer_id="C1", tier="platinum", previous_tier="gold", aum=Decimal("100000"), reason="import",
                       actor="t", changed_at=_at("2024-08-20T10:00")),
            AumSnapshot(month=date(2025, 3, 1), customer_id="C1", tier="gold", status="active", aum=Decimal("40000"),
                        taken_at=_at("2025-03-01T09:00")),
            OutboxMessage(idempotency_key="m1", customer_id="C1", channel="sms", purpose="service", template="t",
                          params={}, status="sent", next_attempt_at=AT, created_at=AT, sent_at=_at("2025-02-20T10:00")),
            OutboxMessage(idempotency_key="m2", customer_id="C1", channel="sms", purpose="service", template="t",
                          params={}, status="sent", next_attempt_at=AT, created_at=AT, sent_at=_at("2024-11-20T10:00")),
        ])


def test_features_as_of_a_day_read_nothing_later(ctx):
    _history(ctx)
    with ctx.sessions() as session:
        rows = compute_features(session, date(2025, 3, 3), ["C1", "C2", "NOPE"], ZONE)
    c1 = rows["C1"]
    assert set(rows) == {"C1", "C2"}
    assert c1["tenure_years"] == pytest.approx(1826 / 365.25)
    assert c1["age"] == pytest.approx(21915 / 365.25)
    assert c1["log_aum"] == pytest.approx(math.log1p(40000))  # the 2025-03-01 snapshot
    assert c1["aum_change_6m"] == pytest.approx(-0.6)  # 100,000 recorded 2024-08-20 → 40,000
    assert (c1["n_families"], c1["holds_deposit"], c1["holds_wmp"], c1["holds_structured"], c1["holds_fund"]) == (
        2, 1, 1, 0, 0)
    assert c1["months_since_purchase"] == pytest.approx(92 / 30.44)  # 2024-12-01
    assert (c1["complaints_180d"], c1["low_satisfaction_180d"], c1["contacts_90d"]) == (2, 1, 1)
    assert (c1["interactions_180d"], c1["risk_level"]) == (2, 3)
    c2 = rows["C2"]
    # a savings account is a deposit held; a loan is no family
    assert (c2["n_families"], c2["holds_deposit"], c2["months_since_purchase"], c2["aum_change_6m"]) == (1, 1, 60, 0)
    assert c2["log_aum"] == pytest.approx(math.log1p(5000))  # no snapshot: the current AUM
    assert list(rows["C1"]) == list(FEATURE_NAMES)


def test_labels_churn_by_status_or_aum_fall_and_purchases_only_for_non_holders(ctx):
    _history(ctx)
    with unit_of_work(ctx.sessions) as session:
        # C2 goes dormant in April 2025 (audited); C1's AUM halves by the July snapshot.
        session.get_one(Customer, "C2").status = "dormant"
        from engine import audit

        audit.append(session, stream="customer:C2", actor="t", action="customer.status_changed",
                     subject_type="customer", subject_id="C2", at=_at("2025-04-15T10:00"),
                     before={"status": "active"}, after={"status": "dormant"})
        session.add(AumSnapshot(month=date(2025, 7, 1), customer_id="C1", tier="mass", status="active",
                                aum=Decimal("19999"), taken_at=_at("2025-07-01T09:00")))
    with ctx.sessions() as session:
        sets = build_datasets(session, [date(2025, 3, 1), date(2025, 5, 1)], ZONE)
    churn = {(d.isoformat(), cid): label for d, cid, _, label in sets["churn"].rows}
    # C2 left on 2025-04-15: churned within 6 months of March 1; no longer a customer on May 1
    assert churn == {("2025-03-01", "C1"): 1, ("2025-03-01", "C2"): 1, ("2025-05-01", "C1"): 1}
    fund = {(d.isoformat(), cid): label for d, cid, _, label in sets["propensity:fund"].rows}
    assert fund == {("2025-03-01", "C1"): 1, ("2025-03-01", "C2"): 0}  # on May 1 C1 holds the fund it bought
    wmp = {(d.isoformat(), cid) for d, cid, _, _ in sets["propensity:wmp"].rows}
    assert wmp == {("2025-03-01", "C2")}  # C1 holds a WMP: not a row of that model


def test_snapshots_are_month_starts_whose_outcome_is_known():
    assert snapshots(date(2025, 3, 3), 3) == [date(2024, 7, 1), date(2024, 8, 1), date(2024, 9, 1)]
    assert snapshots(date(2025, 3, 1), 1) == [date(2024, 9, 1)]


def test_reasons_are_the_exact_terms_of_the_logit():
    features = ("complaints_180d", "tenure_years", "log_aum")
    model = pm.Model("churn", features, -2.0, {"complaints_180d": 0.8, "tenure_years": -0.5, "log_aum": 0.1},
                     {"complaints_180d": 0.5, "tenure_years": 6.0, "log_aum": 10.0},
                     {"complaints_180d": 0.5, "tenure_years": 4.0, "log_aum": 2.0})
    row = {"complaints_180d": 2.0, "tenure_years": 1.0, "log_aum": 11.0}
    # 0.8·(2−0.5)/0.5 = 2.4; −0.5·(1−6)/4 = 0.625; 0.1·(11−10)/2 = 0.05; logit = −2 + 3.075 = 1.075
    assert model.logit(row) == pytest.approx(1.075)
    assert model.score(row) == pytest.approx(1 / (1 + math.exp(-1.075)))
    reasons = model.explain(row)
    assert [(r["feature"], r["contribution"], r["direction"]) for r in reasons] == [
        ("complaints_180d", 2.4, "up"), ("tenure_years", 0.625, "up"), ("log_aum", 0.05, "up")]
    assert reasons[0]["zh"] == "近180天投诉次数" and reasons[0]["en"] == "complaints in 180 days"
    again = pm.Model.from_json("churn", features, model.to_json())
    assert again.score(row) == model.score(row)


@pytest.fixture(scope="module")
def history():
    return synthetic.history_datasets(until=date(2025, 3, 3), customers=500, seed=11)


def test_trained_on_synthetic_history_beats_the_baselines_on_later_snapshots(history):
    churn = pm.train(history["churn"], FEATURE_NAMES)
    m = churn.metrics
    assert churn.status == "active" and m["train_until"] < m["test_from"]
    assert m["held_out"]["auc"] >= m["baseline"]["auc"] + 0.10  # stated margin: +0.10 AUC over "recent complaint"
    assert m["held_out"]["brier"] < m["baseline"]["brier"]  # better calibrated than the base rate
    assert m["held_out"]["precision_top10"] >= 2 * m["test_base_rate"]
    for row in history["churn"].rows[:50]:  # reasons add up to the logit on a fitted model too
        terms = churn.model.contributions(row[2])
        assert churn.model.intercept + sum(terms.values()) == pytest.approx(churn.model.logit(row[2]))
    structured = pm.train(history["propensity:structured"], FEATURE_NAMES).metrics
    assert structured["held_out"]["auc"] >= structured["baseline"]["auc"] + 0.10


def test_time_split_leaves_six_months_between_training_and_test(history):
    train_idx, test_idx = pm.split(history["churn"])
    rows = history["churn"].rows
    last_train, first_test = rows[train_idx[-1]][0], rows[test_idx[0]][0]
    assert (first_test.year - last_train.year) * 12 + first_test.month - last_train.month == 6


def test_thin_bank_history_says_so_and_is_never_used(ctx, people):
    _history(ctx)
    runs = prediction.retrain(ctx, date(2025, 3, 3), people["sam"], source="bank")
    assert {r.status for r in runs} == {"insufficient"}
    assert "too little history" in runs[0].metrics["note"] and runs[0].coefficients == {}
    assert prediction.score_all(ctx, date(2025, 3, 3), people["sam"]) == {}
    with pytest.raises(PermissionDeniedError):
        prediction.retrain(ctx, date(2025, 3, 3), people["alice"])
    with pytest.raises(InvalidInputError):
        prediction.retrain(ctx, date(2025, 3, 3), people["sam"], source="guess")


def _fixed_model(ctx, kind: str, intercept: float, source: str = "synthetic") -> None:
    zero = dict.fromkeys(FEATURE_NAMES, 0.0)
    with unit_of_work(ctx.sessions) as session:
        session.add(ModelRun(kind=kind, source=source, as_of=date(2025, 3, 1), trained_at=AT, trained_by="t", rows=1,
                             features=list(FEATURE_NAMES), metrics={}, status="active",
                             coefficients={"intercept": intercept, "coef": zero, "mean": zero,
                                           "std": dict.fromkeys(FEATURE_NAMES, 1.0)}))


def test_a_high_propensity_never_bypasses_suitability(ctx, people):
    deploy_cross_sell(ctx)
    deploy_care(ctx, "periodic_revisit")
    seed_products(ctx)  # funds: FUND-BOND R2, FUND-EQ-GROWTH R4/R5, FUND-QDII-TECH R5
    add_customer(ctx, "KEEN", level=3)
    add_customer(ctx, "CAUTIOUS", level=1)  # C1: no fund is suitable
    add_customer(ctx, "EXPIRED", level=5, valid_until=date(2025, 1, 31))  # questionnaire expired
    _fixed_model(ctx, "propensity:fund", 3.0)  # every score ≈ 0.95
    _fixed_model(ctx, "churn", -3.0)  # every score ≈ 0.05: no revisits
    assert prediction.score_all(ctx, date(2025, 3, 3), people["sam"]) == {"propensity:fund": 3, "churn": 3}
    done = prediction.start_actions(ctx, date(2025, 3, 3), people["sam"])
    assert (done.leads, done.blocked_by_suitability, done.revisits) == (1, 2, 0)
    with ctx.sessions() as session:
        leads = session.execute(select(SalesLead.customer_id, SalesLead.product_code, SalesLead.source)).all()
    assert leads == [("KEEN", "FUND-BOND", "prediction")]
    again = prediction.start_actions(ctx, date(2025, 3, 3), people["sam"])
    assert (again.leads, again.skipped) == (0, 1)  # the open lead is not opened twice


def test_a_high_churn_risk_starts_one_retention_revisit_a_month(ctx, people):
    deploy_cross_sell(ctx)
    deploy_care(ctx, "periodic_revisit")
    add_customer(ctx, "RISKY")
    _fixed_model(ctx, "churn", 2.0)
    prediction.score_all(ctx, date(2025, 3, 3), people["sam"])
    assert prediction.start_actions(ctx, date(2025, 3, 3), people["sam"]).revisits == 1
    assert prediction.start_actions(ctx, date(2025, 3, 10), people["sam"]).revisits == 0
    with ctx.sessions() as session:
        keys = session.scalars(select(ProcessInstance.business_key).where(
            ProcessInstance.process_key == "periodic_revisit")).all()
    assert keys == ["retention:RISKY:2025-03"]


def test_scores_are_listed_for_the_customers_manager_and_supervisors_only(ctx, people):
    from tests.support.care import add_customers, customer

    add_customers(ctx, customer("A1", manager="alice"), customer("B1", manager="bob"), customer("B2", manager="bob"))
    _fixed_model(ctx, "churn", 0.0)
    prediction.score_all(ctx, date(2025, 3, 3), people["sam"])
    with unit_of_work(ctx.sessions) as session:  # make the order visible
        for cid, value in (("A1", 0.2), ("B1", 0.9), ("B2", 0.4)):
            session.get_one(CustomerScore, (cid, "churn")).score = value
    assert [s.customer_id for s in prediction.list_top_scores(ctx, kind="churn", actor=people["sam"])] == [
        "B1", "B2", "A1"]
    mine = prediction.list_top_scores(ctx, kind="churn", actor=people["alice"])
    assert [(s.customer_id, s.name, s.synthetic) for s in mine] == [("A1", "王*明", True)]
    assert [s.customer_id for s in prediction.list_top_scores(ctx, kind="churn", actor=people["bob"], limit=1)] == ["B1"]
    assert prediction.customer_scores(ctx, "A1", actor=people["bob"]) == []
    assert [s.kind for s in prediction.customer_scores(ctx, "A1", actor=people["alice"])] == ["churn"]
    with pytest.raises(InvalidInputError):
        prediction.list_top_scores(ctx, kind="propensity:loan", actor=people["sam"])


def test_the_daily_scan_retrains_on_the_first_and_acts_on_mondays_once_a_model_exists(ctx):
    assert prediction.scheduled_jobs(ctx, date(2025, 9, 1)) == []  # predictions not in use yet
    _fixed_model(ctx, "churn", -3.0)
    assert [name for name, _ in prediction.scheduled_jobs(ctx, date(2025, 3, 1))] == ["prediction_retrain"]  # Saturday
    assert [name for name, _ in prediction.scheduled_jobs(ctx, date(2025, 3, 3))] == ["prediction_act"]
    assert [name for name, _ in prediction.scheduled_jobs(ctx, date(2025, 9, 1))] == [
        "prediction_retrain", "prediction_act"]
    assert prediction.scheduled_jobs(ctx, date(2025, 3, 4)) == []
    deploy_cross_sell(ctx)
    deploy_care(ctx, "periodic_revisit")
    add_customer(ctx, "C1")
    results = run_daily_scans(ctx, date(2025, 9, 1))
    assert (results["prediction_retrain"].started, results["prediction_retrain"].skipped) == (0, 6)  # too thin
    assert results["prediction_act"].ran
    with ctx.sessions() as session:
        assert session.scalar(select(CustomerScore.score).where(CustomerScore.customer_id == "C1")) == pytest.approx(
            1 / (1 + math.exp(3.0)))  # scored with the model still active


def test_synthetic_retrain_stores_json_runs_that_score(ctx, people):
    add_customer(ctx, "C9")
    runs = prediction.retrain(ctx, date(2025, 3, 3), SYSTEM, source="synthetic", customers=200, seed=3)
    assert {r.kind for r in runs} == {"churn", "propensity:deposit", "propensity:wmp", "propensity:fund",
                                      "propensity:insurance", "propensity:structured"}
    churn = next(r for r in runs if r.kind == "churn")
    assert churn.synthetic and churn.metrics["data"] == "synthetic" and set(churn.coefficients) == {
        "intercept", "coef", "mean", "std"}
    counts = prediction.score_all(ctx, date(2025, 3, 3), people["sam"])
    assert counts.get("churn") == 1
    [score] = [s for s in prediction.customer_scores(ctx, "C9", actor=people["sam"]) if s.kind == "churn"]
    assert 0 < score.score < 1 and len(score.reasons) == 3 and score.synthetic
