"""The scores page and the customer 360 section: reasons beside each score, quality with the synthetic caveat, roles."""

from __future__ import annotations

from datetime import UTC, date, datetime

from engine.db.session import unit_of_work
from engine.prediction import service as prediction
from engine.prediction.models import CustomerScore, ModelRun
from tests.support.care import add_customers, customer
from tests.support.web import login
from web import create_app

AT = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
METRICS = {"data": "synthetic", "held_out": {"auc": 0.8766, "precision_top10": 0.1523, "brier": 0.0229},
           "baseline": {"auc": 0.6152, "precision_top10": 0.0807, "brier": 0.0262, "rule_zh": "近180天有投诉",
                        "rule_en": "a complaint in the last 180 days", "base_rate": 0.05}}


def _scored(ctx):
    add_customers(ctx, customer("A1", manager="alice"), customer("B1", manager="bob"))
    with unit_of_work(ctx.sessions) as session:
        run = ModelRun(kind="churn", source="synthetic", as_of=date(2025, 3, 1), trained_at=AT, trained_by="sam",
                       rows=100, features=["complaints_180d"], coefficients={}, metrics=METRICS, status="active")
        session.add(run)
        session.flush()
        reasons = [{"feature": "complaints_180d", "zh": "近180天投诉次数", "en": "complaints in 180 days", "value": 2,
                    "contribution": 1.2, "direction": "up"},
                   {"feature": "tenure_years", "zh": "客户关系年限", "en": "years with the bank", "value": 9,
                    "contribution": -0.4, "direction": "down"}]
        session.add_all([CustomerScore(customer_id=cid, kind="churn", score=value, reasons=reasons, model_run_id=run.id,
                                       scored_at=AT) for cid, value in (("A1", 0.62), ("B1", 0.81))])


def test_supervisors_see_every_score_with_reasons_and_the_synthetic_caveat(ctx, people):
    _scored(ctx)
    client, _ = login(create_app({"TESTING": True}, engine=ctx), "sam")
    page = client.get("/scores").get_data(as_text=True)
    assert page.index('data-customer="B1"') < page.index('data-customer="A1"')  # highest first
    assert "81%" in page and "62%" in page and "↑ 近180天投诉次数" in page and "↓ 客户关系年限" in page
    assert 'id="synthetic-caveat"' in page and "合成数据" in page and "流失风险" in page
    assert "0.877" in page and "15.2%" in page and "0.0229" in page and "近180天有投诉: AUC 0.615" in page
    english = client.get("/scores?lang=en").get_data(as_text=True)
    assert "↑ complaints in 180 days" in english and "Trained on synthetic history" in english
    assert "Churn risk" in english and "a complaint in the last 180 days: AUC 0.615" in english


def test_staff_see_only_their_customers_and_the_360_shows_scores_to_the_manager(ctx, people):
    _scored(ctx)
    app = create_app({"TESTING": True}, engine=ctx)
    alice, _ = login(app, "alice")
    page = alice.get("/scores?lang=en").get_data(as_text=True)
    assert 'data-customer="A1"' in page and 'data-customer="B1"' not in page
    own = alice.get("/customers/A1?lang=en").get_data(as_text=True)
    assert 'id="scores"' in own and 'data-kind="churn"' in own and "62%" in own
    other = alice.get("/customers/B1?lang=en").get_data(as_text=True)
    assert 'id="scores"' not in other  # bob's customer: no scores for alice
    assert alice.get("/scores?kind=propensity:fund&lang=en").status_code == 200
    dora, _ = login(app, "dora")
    assert dora.get("/scores").status_code == 403
    assert 'id="nav-scores"' in page


def test_the_page_says_when_no_model_exists(ctx, people):
    client, _ = login(create_app({"TESTING": True}, engine=ctx), "sam")
    page = client.get("/scores?lang=en").get_data(as_text=True)
    assert "No scores yet" in page and "careflow scores retrain" in page and 'id="synthetic-caveat"' not in page
    assert prediction.list_model_runs(ctx, actor=people["sam"]) == []
