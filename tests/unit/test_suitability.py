"""Suitability (docs/domain.md §2.2–§2.8): the C × R matrix through the Python rule AND the deployed DMN, age, validity,
private products, minimums, 孰高, channel."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.sales.handlers import merge_dmn
from engine.sales.suitability import (
    SuitabilityFacts,
    SuitabilityPolicy,
    evaluate,
    level_outcome,
    product_level,
)
from engine.services import instances, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]
SALE_DAY = date(2025, 3, 3)
POLICY = SuitabilityPolicy()

# Rows C1..C5, columns R1..R5: "A" allow, "B" block (product level ≤ customer level, docs/domain.md §2.2).
MATRIX = {
    1: "A B B B B",
    2: "A A B B B",
    3: "A A A B B",
    4: "A A A A B",
    5: "A A A A A",
}
EXPECTED = {(c, r + 1): {"A": "allow", "B": "block"}[cell] for c, row in MATRIX.items() for r, cell in
            enumerate(row.split())}


def facts(**kw) -> SuitabilityFacts:
    values = {"sale_date": SALE_DAY, "customer_level": 3, "level_valid_until": date(2025, 12, 31),
              "birth_date": date(1980, 5, 20), "seller_product_level": 2}
    values.update(kw)
    return SuitabilityFacts(**values)


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


@pytest.mark.parametrize(("customer", "product"), sorted(EXPECTED))
def test_matrix_python(customer, product):
    decision = evaluate(facts(customer_level=customer, seller_product_level=product), POLICY)
    assert decision.decision == EXPECTED[(customer, product)]
    assert level_outcome(customer, product, 44, POLICY)[0] == EXPECTED[(customer, product)]
    if decision.decision == "block":
        assert codes(decision) == ["level_mismatch"]


def _dmn_probe(ctx):
    """A one-step process around the deployed product_suitability table: its outputs land in the task data."""
    rule = ('<bpmn:businessRuleTask id="rate"><bpmn:extensionElements><spiffworkflow:calledDecisionId>'
            "product_suitability</spiffworkflow:calledDecisionId></bpmn:extensionElements></bpmn:businessRuleTask>")
    xml = b.linear("dmn_probe", rule, b.user_task("hold", candidateGroups="service_team"))
    deploy(ctx, ("probe.bpmn", xml), ("product_suitability.dmn", (ROOT / "processes" / "product_suitability.dmn").read_bytes()))


def _through_dmn(ctx, customer, product, age):
    variables = {"facts": {"customer_level": customer, "product_level": product, "age": age,
                           "elderly_care_age": 65, "high_risk_from": 4}}
    started = instances.start_instance(ctx, process_key="dmn_probe", actor=SYSTEM, variables=variables)
    [task] = open_tasks(ctx, started.id)
    data = tasks.get_task(ctx, task.id, actor=SYSTEM).data
    return data["level_decision"], data["extra_care"]


def test_matrix_dmn_agrees_with_python_for_all_25_pairs_and_the_elderly_rows(ctx):
    _dmn_probe(ctx)
    for (customer, product), expected in sorted(EXPECTED.items()):
        assert _through_dmn(ctx, customer, product, 44) == (expected, ""), (customer, product)
        assert _through_dmn(ctx, customer, product, 44) == level_outcome(customer, product, 44, POLICY)
    for customer, product, age, expected in [(5, 4, 65, ("allow_with_extra_steps", "elderly_special_care")),
                                             (5, 5, 80, ("allow_with_extra_steps", "elderly_special_care")),
                                             (5, 3, 65, ("allow", "")), (5, 4, 64, ("allow", "")),
                                             (3, 4, 70, ("block", "")), (0, 1, 40, ("block", ""))]:
        assert _through_dmn(ctx, customer, product, age) == expected
        assert level_outcome(customer, product, age, POLICY) == expected


@pytest.mark.parametrize(("born", "age", "steps"), [
    (date(1960, 3, 4), 64, ()),  # 65th birthday tomorrow: still 64 (周岁)
    (date(1960, 3, 3), 65, ("elderly_special_care",)),  # 65 today: 65 "以上" includes 65
    (date(1955, 3, 3), 70, ("elderly_special_care", "second_check")),
])
def test_elderly_special_care_from_65_on_the_sale_date(born, age, steps):
    decision = evaluate(facts(customer_level=5, seller_product_level=4, birth_date=born), POLICY)
    assert (decision.age, decision.extra_steps) == (age, steps)
    assert decision.decision == ("allow_with_extra_steps" if steps else "allow")


def test_elderly_care_only_for_high_risk_products_and_high_risk_is_a_setting():
    old = facts(customer_level=5, birth_date=date(1958, 1, 1))
    assert evaluate(replace(old, seller_product_level=3), POLICY).extra_steps == ()
    assert codes(evaluate(replace(old, seller_product_level=3), POLICY)) == ["elderly_customer"]
    strict = SuitabilityPolicy(high_risk_from=5)
    assert evaluate(replace(old, seller_product_level=4), strict).extra_steps == ()
    assert evaluate(replace(old, seller_product_level=5), strict).extra_steps == ("elderly_special_care",)


def test_second_check_is_a_practice_setting_and_not_for_professional_investors():
    old = facts(customer_level=5, seller_product_level=2, birth_date=date(1950, 1, 1))
    assert evaluate(old, POLICY).extra_steps == ("second_check",)
    assert evaluate(old, SuitabilityPolicy(second_check_age=None)).extra_steps == ()
    assert evaluate(replace(old, professional=True), POLICY).extra_steps == ()


@pytest.mark.parametrize(("valid_until", "decision"), [(date(2025, 3, 2), "block"), (date(2025, 3, 3), "allow")])
def test_questionnaire_expired_yesterday_blocks_valid_today_allows(valid_until, decision):
    result = evaluate(facts(level_valid_until=valid_until), POLICY)
    assert result.decision == decision
    assert codes(result) == (["assessment_expired"] if decision == "block" else [])


def test_no_questionnaire_blocks():
    assert codes(evaluate(facts(customer_level=None, level_valid_until=None), POLICY)) == ["no_assessment"]


def test_private_product_needs_a_qualified_investor():
    private = facts(customer_level=5, private=True, min_amount=Decimal("300000"), amount=Decimal("300000"))
    assert codes(evaluate(private, POLICY)) == ["not_qualified_investor"]
    assert evaluate(replace(private, qualified=True), POLICY).decision == "allow"


@pytest.mark.parametrize(("minimum", "amount", "decision"), [
    ("10000", "9999.99", "block"), ("10000", "10000", "allow"),  # public bank WMP
    ("300000", "299999", "block"), ("1000000", "1000000", "allow"),  # private fixed income / equity
])
def test_amount_under_the_products_minimum_blocks(minimum, amount, decision):
    result = evaluate(facts(min_amount=Decimal(minimum), amount=Decimal(amount)), POLICY)
    assert result.decision == decision
    assert codes(result) == (["below_minimum"] if decision == "block" else [])


def test_higher_of_seller_and_issuer_rating_counts():
    assert product_level(2, 4) == 4
    assert product_level(4, 2) == 4
    assert product_level(3, None) == 3
    result = evaluate(facts(customer_level=3, seller_product_level=2, issuer_product_level=4), POLICY)
    assert (result.decision, result.product_level, codes(result)) == ("block", 4, ["level_mismatch"])
    with pytest.raises(ValueError):
        product_level(6, None)


def test_branch_sales_of_wmps_need_double_recording():
    assert evaluate(facts(channel="branch"), POLICY).extra_steps == ("double_recording",)
    assert evaluate(facts(channel="online"), POLICY).extra_steps == ()
    assert evaluate(facts(channel="branch", family="deposit"), POLICY).extra_steps == ()


def test_unknown_birth_date_blocks_and_every_reason_is_listed():
    result = evaluate(facts(birth_date=None, customer_level=1, seller_product_level=2, private=True), POLICY)
    assert codes(result) == ["level_mismatch", "not_qualified_investor", "birth_date_missing"]
    assert result.reasons[0].zh == "产品风险等级高于客户风险承受能力等级" and result.extra_steps == ()


def test_the_stricter_of_dmn_and_python_wins():
    allowed = evaluate(facts(), POLICY)
    assert merge_dmn(allowed, "block", "")["decision"] == "block"
    assert merge_dmn(allowed, "allow", "")["decision"] == "allow"
    assert merge_dmn(allowed, "allow_with_extra_steps", "elderly_special_care")["extra_steps"] == ["elderly_special_care"]
    blocked = evaluate(facts(customer_level=1), POLICY)
    assert merge_dmn(blocked, "allow", "")["decision"] == "block"
