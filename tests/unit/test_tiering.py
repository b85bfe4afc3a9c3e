"""Tier rules (Python and the customer_tier DMN on every boundary), 快升缓降, revisit frequency, PRC ID, questionnaire."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from engine.bpmn.loader import SourceFile, parse_bundle
from engine.bpmn.workflow import CareflowScriptEngine
from engine.clock import FrozenClock
from engine.config import Settings
from engine.customers.tier_rules import (
    REVISIT_FREQUENCY,
    decide_tier,
    manager_groups_for,
    next_revisit_on,
    tier_for_aum,
    weighted_aum,
)
from engine.onboarding import questionnaire
from engine.onboarding.idcard import InvalidIdNumberError, parse_id_number
from engine.runtime.instance import new_workflow
from tests.support import bpmn as b

ROOT = Path(__file__).resolve().parents[2]
FLOORS = Settings().tiering.floors
BOUNDARIES = [
    ("0", "mass"), ("49999.99", "mass"), ("50000", "gold"), ("50000.00", "gold"), ("199999.99", "gold"),
    ("200000", "platinum"), ("999999.99", "platinum"), ("1000000", "diamond"), ("5999999.99", "diamond"),
    ("6000000", "private"), ("250000000", "private"),
]


def _decide(decision: str, **data: object) -> dict[str, object]:
    """Run ``decision`` from processes/<decision>.dmn in a one-task process, under the engine's restricted scripts."""
    task = (f'<bpmn:businessRuleTask id="decide"><bpmn:extensionElements><spiffworkflow:calledDecisionId>{decision}'
            "</spiffworkflow:calledDecisionId></bpmn:extensionElements></bpmn:businessRuleTask>")
    files = [SourceFile("p.bpmn", b.linear("p", task)),
             SourceFile(f"{decision}.dmn", (ROOT / "processes" / f"{decision}.dmn").read_bytes())]
    bundle = parse_bundle(files, handlers=None)
    engine = CareflowScriptEngine(clock=FrozenClock(datetime(2025, 3, 3, tzinfo=UTC)), zone=ZoneInfo("Asia/Shanghai"),
                                  handlers={})
    workflow = new_workflow(bundle, engine, dict(data))
    workflow.do_engine_steps()
    assert workflow.is_completed()
    return dict(workflow.data)


@pytest.mark.parametrize(("aum", "tier"), BOUNDARIES)
def test_python_rule_and_dmn_agree_on_every_boundary(aum, tier):
    assert tier_for_aum(Decimal(aum), FLOORS) == tier
    assert _decide("customer_tier", aum=Decimal(aum))["tier"] == tier
    assert _decide("customer_tier", aum=float(aum))["tier"] == tier  # form numbers arrive as JSON floats


def test_default_floors_are_the_domain_figures():
    assert dict(FLOORS) == {"gold": 50_000, "platinum": 200_000, "diamond": 1_000_000, "private": 6_000_000}


@pytest.mark.parametrize("tier", ["private", "diamond", "platinum", "gold", "mass"])
def test_revisit_frequency_dmn_has_the_scan_table(tier):
    expected = {"private": (1, "face_to_face"), "diamond": (2, "phone"), "platinum": (3, "phone"),
                "gold": (3, "phone"), "mass": (6, "remote")}[tier]
    result = _decide("revisit_frequency", tier=tier)
    assert (result["revisit_months"], result["revisit_channel"]) == expected
    assert (REVISIT_FREQUENCY[tier].months, REVISIT_FREQUENCY[tier].channel) == expected


def test_next_revisit_dates_by_tier():
    assert next_revisit_on(date(2025, 3, 3), "private") == date(2025, 4, 3)
    assert next_revisit_on(date(2025, 3, 3), "diamond") == date(2025, 5, 3)
    assert next_revisit_on(date(2025, 3, 3), "gold") == date(2025, 6, 3)
    assert next_revisit_on(date(2025, 3, 3), "mass") == date(2025, 9, 3)
    assert next_revisit_on(date(2025, 1, 31), "private") == date(2025, 2, 28)
    assert next_revisit_on(date(2025, 3, 3), "unknown") == date(2025, 9, 3)


def test_weighted_aum_ignores_loans_and_applies_weights():
    balances = [("savings", Decimal("30000.10")), ("time_deposit", Decimal("20000")), ("loan", Decimal("500000")),
                ("investment", Decimal("10000"))]
    assert weighted_aum(balances, {}) == Decimal("60000.10")
    assert weighted_aum(balances, {"investment": 0.5, "loan": 1.0}) == Decimal("55000.10")


def test_upgrade_is_immediate():
    decision = decide_tier("gold", date(2025, 1, 1), Decimal("200000"), date(2025, 3, 3), floors=FLOORS)
    assert (decision.tier, decision.below_since, decision.reason) == ("platinum", None, "upgrade")
    jump = decide_tier("mass", None, Decimal("6000000"), date(2025, 3, 3), floors=FLOORS)
    assert (jump.tier, jump.reason) == ("private", "upgrade")


def test_downgrade_waits_three_months_below_the_floor():
    first = decide_tier("platinum", None, Decimal("199999.99"), date(2025, 1, 1), floors=FLOORS)
    assert (first.tier, first.below_since, first.reason) == ("platinum", date(2025, 1, 1), None)
    later = decide_tier("platinum", date(2025, 1, 1), Decimal("40000"), date(2025, 3, 31), floors=FLOORS)
    assert (later.tier, later.below_since, later.reason) == ("platinum", date(2025, 1, 1), None)
    due = decide_tier("platinum", date(2025, 1, 1), Decimal("40000"), date(2025, 4, 1), floors=FLOORS)
    assert (due.tier, due.below_since, due.reason) == ("mass", None, "downgrade")


def test_recovering_above_the_floor_restarts_the_count():
    back = decide_tier("platinum", date(2025, 1, 1), Decimal("200000"), date(2025, 3, 1), floors=FLOORS)
    assert (back.tier, back.below_since, back.reason) == ("platinum", None, None)
    again = decide_tier("platinum", None, Decimal("150000"), date(2025, 4, 1), floors=FLOORS)
    assert again.below_since == date(2025, 4, 1) and again.tier == "platinum"


def test_downgrade_months_is_a_setting():
    assert decide_tier("gold", date(2025, 1, 1), Decimal("0"), date(2025, 2, 1), floors=FLOORS,
                       downgrade_months=1).tier == "mass"


def test_manager_groups_by_aum_band_with_fallbacks():
    bands = Settings().tiering.manager_groups
    assert manager_groups_for(Decimal("2000000"), bands) == ["wealth_centre_managers", "branch_wealth_managers",
                                                             "branch_lobby_managers", "customer_managers"]
    assert manager_groups_for(Decimal("1999999.99"), bands)[0] == "branch_wealth_managers"
    assert manager_groups_for(Decimal("150000"), bands) == ["branch_lobby_managers", "customer_managers"]
    assert manager_groups_for(Decimal("99999.99"), bands) == ["customer_managers"]


# --- PRC ID numbers (GB 11643-1999) --------------------------------------------------------------------------------

@pytest.mark.parametrize(("number", "born", "gender"), [
    ("11010519491231002X", date(1949, 12, 31), "F"),  # the standard's own example
    ("11010519491231002x", date(1949, 12, 31), "F"),
    ("110101199003071233", date(1990, 3, 7), "M"),
    ("440304198506123455", date(1985, 6, 12), "M"),
])
def test_valid_id_numbers_give_birth_date_and_sex(number, born, gender):
    resident = parse_id_number(number, today=date(2025, 3, 3))
    assert (resident.birth_date, resident.gender, resident.number) == (born, gender, number.upper())


@pytest.mark.parametrize(("number", "why"), [
    ("110105194912310021", "check digit"),  # last character should be X
    ("110101199003071234", "check digit"),
    ("11010519491331002X", "birth date"),  # month 13
    ("110105203001010019", "birth date"),  # born in the future
    ("11010519491231002", "18"),
    ("1101051949123100XX", "18"),
])
def test_invalid_id_numbers_are_refused_with_the_reason(number, why):
    with pytest.raises(InvalidIdNumberError, match=why):
        parse_id_number(number, today=date(2025, 3, 3))


# --- risk questionnaire ----------------------------------------------------------------------------------------------

LOWEST = {"risk_age": "over_65", "risk_income": "below_100k", "risk_share": "over_70", "risk_experience": "none",
          "risk_horizon": "below_1y", "risk_goal": "preserve", "risk_loss": "none"}
HIGHEST = {"risk_age": "31_45", "risk_income": "over_1m", "risk_share": "below_10", "risk_experience": "derivatives",
           "risk_horizon": "over_5y", "risk_goal": "max", "risk_loss": "over_50"}
MIDDLE = {"risk_age": "46_55", "risk_income": "300k_500k", "risk_share": "30_50", "risk_experience": "funds",
          "risk_horizon": "1_3y", "risk_goal": "balanced", "risk_loss": "10_30"}


@pytest.mark.parametrize(("answers", "points", "level"), [
    (LOWEST, 7, 1), (HIGHEST, 35, 5), (MIDDLE, 21, 3),
    ({**LOWEST, "risk_age": "31_45", "risk_income": "over_1m"}, 15, 2),  # 7 + 4 + 4
    ({**LOWEST, "risk_goal": "steady", "risk_loss": "below_10", "risk_age": "56_65"}, 10, 1),
    ({**HIGHEST, "risk_goal": "preserve", "risk_loss": "none"}, 27, 4),  # 35 − 4 − 4
    ({**HIGHEST, "risk_horizon": "3_5y", "risk_income": "500k_1m"}, 33, 5),
])
def test_questionnaire_scores_map_to_levels(answers, points, level):
    result = questionnaire.assess(answers, date(2025, 3, 3), 12)
    assert (result.score, result.level, result.valid_until, result.version) == (points, level, date(2026, 3, 3), "2025.1")


def test_level_boundaries():
    assert [questionnaire.level_for(n) for n in (12, 13, 18, 19, 24, 25, 30, 31)] == [1, 2, 2, 3, 3, 4, 4, 5]


def test_unanswered_or_unknown_answers_are_refused():
    with pytest.raises(questionnaire.IncompleteQuestionnaireError, match="risk_loss"):
        questionnaire.assess({k: v for k, v in LOWEST.items() if k != "risk_loss"}, date(2025, 3, 3))
    with pytest.raises(questionnaire.IncompleteQuestionnaireError, match="risk_age"):
        questionnaire.assess({**LOWEST, "risk_age": "young"}, date(2025, 3, 3))


def test_the_form_asks_exactly_the_questionnaires_questions():
    import json

    form = json.loads((ROOT / "forms" / "onboarding_risk.json").read_text())
    [group] = [c for c in form["components"] if c["type"] == "group"]
    asked = {c["key"]: [v["value"] for v in c["values"]] for c in group["components"]}
    assert group["path"] == "risk"
    assert asked == {q.key: [a[0] for a in q.answers] for q in questionnaire.QUESTIONS}


# --- the monthly recompute (database) --------------------------------------------------------------------------------

def _accounts(ctx, *rows):
    from engine.customers.accounts_models import CustomerAccount
    from engine.db.session import unit_of_work

    with unit_of_work(ctx.sessions) as session:
        for n, (customer_id, kind, balance, status) in enumerate(rows):
            session.add(CustomerAccount(customer_id=customer_id, external_id=f"ACC{n}", kind=kind, status=status,
                                        balance=Decimal(balance), avg_daily_balance=Decimal(balance),
                                        updated_at=ctx.clock.now()))


def test_recompute_upgrades_at_once_downgrades_after_three_months_and_keeps_history(ctx):
    from sqlalchemy import select

    from engine.customers.accounts_models import TierChange
    from engine.customers.models import Customer
    from engine.customers.tiering import recompute_tiers
    from engine.db.models import AuditEvent, ProcessInstance
    from tests.support.care import add_customers, customer, deploy_care

    deploy_care(ctx, "periodic_revisit")
    add_customers(ctx, customer("A", tier="mass"), customer("B", tier="platinum"), customer("C", tier="gold"))
    _accounts(ctx, ("A", "savings", "30000", "open"), ("A", "time_deposit", "20000", "open"),
              ("A", "current", "90000", "closed"), ("B", "savings", "100000", "open"), ("B", "loan", "1000000", "open"),
              ("C", "investment", "60000", "open"))
    first = recompute_tiers(ctx, date(2025, 3, 1))
    assert (first.customers, first.upgraded, first.downgraded, first.revisits_started) == (3, 1, 0, 1)
    with ctx.sessions() as session:
        rows = {c.id: (c.tier, c.aum, c.tier_below_since) for c in session.scalars(select(Customer))}
    assert rows == {"A": ("gold", Decimal("50000.00"), None), "B": ("platinum", Decimal("100000.00"), date(2025, 3, 1)),
                    "C": ("gold", Decimal("60000.00"), None)}
    for day in (date(2025, 4, 1), date(2025, 5, 31)):
        assert recompute_tiers(ctx, day).downgraded == 0
    last = recompute_tiers(ctx, date(2025, 6, 1))
    assert (last.upgraded, last.downgraded, last.revisits_started) == (0, 1, 1)
    assert recompute_tiers(ctx, date(2025, 6, 1)).revisits_started == 0  # a rerun changes nothing
    with ctx.sessions() as session:
        history = [(t.customer_id, t.previous_tier, t.tier, t.reason, t.aum) for t in
                   session.scalars(select(TierChange).order_by(TierChange.id))]
        assert history == [("A", "mass", "gold", "upgrade", Decimal("50000.00")),
                           ("B", "platinum", "gold", "downgrade", Decimal("100000.00"))]
        assert session.get(Customer, "B").tier_below_since is None
        audited = list(session.scalars(select(AuditEvent.after).where(AuditEvent.action == "customer.tier_changed")))
        assert [a["tier"] for a in audited] == ["gold", "gold"]
        keys = sorted(session.scalars(select(ProcessInstance.business_key)))
        assert keys == ["revisit:A:2025-03-01", "revisit:B:2025-06-01"]


def test_recompute_is_for_supervisors(ctx, people):
    from engine.customers.tiering import recompute_tiers
    from engine.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        recompute_tiers(ctx, date(2025, 3, 1), actor=people["alice"])
    assert recompute_tiers(ctx, date(2025, 3, 1), actor=people["sam"]).customers == 0
