"""Product suitability (适当性): may this customer buy this product, today, this way? A pure rule.

docs/domain.md §2.2–§2.8, §2.10. The decision is ``allow``, ``block`` or ``allow_with_extra_steps``:

- **block** when the product's level (the higher of the seller's and the issuer's rating, 孰高) is above
  the customer's level C1–C5 (§2.2); when there is no questionnaire or it has expired on the sale date
  (§2.3: valid through ``valid_until``); when a private product is offered to a customer who is not a
  qualified investor (§2.8); when the amount is under the product's minimum (§2.8: public bank WMP
  ¥10,000, private ¥300k/¥400k/¥1m — taken from the product row); and when the birth date is unknown
  (the age on the sale date must be known and stored, §2.4). The default policy has no override (§2.2).
- **extra steps**: ``elderly_special_care`` for customers aged 65+ (周岁, inclusive — 民法典 Art. 1259)
  buying high-risk products (R4–R5 by default, a setting) (§2.4); ``second_check`` by another staff
  member from 70 for ordinary investors (bank practice, a setting; §2.4); ``double_recording`` (双录)
  for WMPs and distributed products sold at a branch (§2.5).

``level_outcome`` is the part the ``product_suitability`` DMN table also encodes (level matrix and
elderly rows); the tests run every C × R combination through both and require them to agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from engine.rules.care_dates import age_on

ALLOW, BLOCK, EXTRA = "allow", "block", "allow_with_extra_steps"
ELDERLY_CARE, SECOND_CHECK, DOUBLE_RECORDING = "elderly_special_care", "second_check", "double_recording"
CHANNELS = ("branch", "online")
# Sold at a branch, these need audio and video recording of the sale (双录, docs/domain.md §2.5); deposits, loans and
# cards do not, and treasury bonds / precious metals are the bank's choice (not modelled).
DOUBLE_RECORDING_FAMILIES = frozenset({"wmp", "fund", "insurance", "structured"})

REASONS: dict[str, tuple[str, str]] = {
    "level_mismatch": ("产品风险等级高于客户风险承受能力等级", "product risk level is above the customer's risk level"),
    "no_assessment": ("客户未做风险测评", "the customer has no risk assessment"),
    "assessment_expired": ("风险测评已过期，须重新测评", "the risk assessment has expired; re-assess first"),
    "not_qualified_investor": ("私募产品仅向合格投资者销售", "private products are sold to qualified investors only"),
    "below_minimum": ("购买金额低于产品起点金额", "the amount is below the product's minimum"),
    "birth_date_missing": ("缺少出生日期，无法核实年龄", "the birth date is missing; the age cannot be checked"),
    "elderly_high_risk": ("65周岁及以上客户购买高风险产品，须特别关怀", "customer aged 65+ buying a high-risk product"),
    "second_check_age": ("高龄客户，须另一名员工复核", "older customer: a second staff member checks the sale"),
    "branch_double_recording": ("网点销售须录音录像（双录）", "branch sale: audio and video recording required"),
    "elderly_customer": ("老年客户（60周岁及以上），注意适老化服务", "elderly customer (60+): take extra care"),
}


@dataclass(frozen=True)
class SuitabilityPolicy:
    """The settings the rule reads (engine.config.Settings holds the bank's values)."""

    elderly_special_care_age: int = 65
    elderly_definition_age: int = 60
    high_risk_from: int = 4
    second_check_age: int | None = 70


@dataclass(frozen=True)
class SuitabilityFacts:
    """What the rule looks at, as of ``sale_date`` (the bank-local day of the check or sale)."""

    sale_date: date
    customer_level: int | None  # 1..5 = C1..C5, None: never assessed
    level_valid_until: date | None  # last day the questionnaire counts
    birth_date: date | None
    seller_product_level: int  # 1..5 = R1..R5, the selling bank's rating
    issuer_product_level: int | None = None  # the issuer's rating, if different
    family: str = "wmp"
    private: bool = False
    professional: bool = False
    qualified: bool = False
    min_amount: Decimal | None = None
    amount: Decimal | None = None  # None: not known yet (a lead), the minimum is checked at the sale
    channel: str | None = None  # branch | online | None (not known yet)


@dataclass(frozen=True)
class Reason:
    code: str
    zh: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class SuitabilityDecision:
    decision: str
    reasons: tuple[Reason, ...]
    extra_steps: tuple[str, ...]
    customer_level: int | None
    product_level: int
    age: int | None
    blocking: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.decision != BLOCK

    def as_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": [r.as_dict() for r in self.reasons],
                "extra_steps": list(self.extra_steps), "blocking": list(self.blocking),
                "customer_level": self.customer_level, "product_level": self.product_level, "age": self.age}


def reason(code: str) -> Reason:
    zh, en = REASONS[code]
    return Reason(code, zh, en)


def product_level(seller_level: int, issuer_level: int | None) -> int:
    """The level suitability uses: the higher of the two ratings (孰高, docs/domain.md §2.2)."""
    levels = [seller_level] + ([issuer_level] if issuer_level is not None else [])
    if any(not 1 <= level <= 5 for level in levels):
        raise ValueError(f"product risk levels must be 1..5 (R1..R5), got {levels}")
    return max(levels)


def level_outcome(customer_level: int, level: int, age: int, policy: SuitabilityPolicy) -> tuple[str, str]:
    """(decision, extra care) from the level matrix and the elderly rows — what the DMN table encodes.

    ``customer_level`` 0 means "no level"; a product above the customer's level is blocked; a 65+
    customer buying a high-risk product is allowed with special care.
    """
    if customer_level < 1 or level > customer_level:
        return BLOCK, ""
    if age >= policy.elderly_special_care_age and level >= policy.high_risk_from:
        return EXTRA, ELDERLY_CARE
    return ALLOW, ""


def evaluate(facts: SuitabilityFacts, policy: SuitabilityPolicy) -> SuitabilityDecision:
    """The decision for ``facts`` under ``policy``; every reason is listed, not just the first."""
    level = product_level(facts.seller_product_level, facts.issuer_product_level)
    if facts.channel is not None and facts.channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    age = age_on(facts.birth_date, facts.sale_date) if facts.birth_date else None
    blocking = _blocking(facts, level, age)
    steps: list[str] = []
    notes: list[str] = []
    if age is not None:
        _elderly(facts, policy, level, age, steps, notes)
    if facts.channel == "branch" and facts.family in DOUBLE_RECORDING_FAMILIES:
        steps.append(DOUBLE_RECORDING)
        notes.append("branch_double_recording")
    decision = BLOCK if blocking else (EXTRA if steps else ALLOW)
    return SuitabilityDecision(
        decision=decision, reasons=tuple(reason(code) for code in [*blocking, *notes]),
        extra_steps=tuple(steps) if not blocking else (), customer_level=facts.customer_level,
        product_level=level, age=age, blocking=tuple(blocking),
    )


def _blocking(facts: SuitabilityFacts, level: int, age: int | None) -> list[str]:
    found = []
    if facts.customer_level is None:
        found.append("no_assessment")
    else:
        if facts.level_valid_until is None or facts.level_valid_until < facts.sale_date:
            found.append("assessment_expired")
        if level > facts.customer_level:
            found.append("level_mismatch")
    if facts.private and not facts.qualified:
        found.append("not_qualified_investor")
    if facts.amount is not None and facts.min_amount is not None and facts.amount < facts.min_amount:
        found.append("below_minimum")
    if age is None:
        found.append("birth_date_missing")
    return found


def _elderly(facts: SuitabilityFacts, policy: SuitabilityPolicy, level: int, age: int, steps: list[str],
             notes: list[str]) -> None:
    """Elderly rows (docs/domain.md §2.4): the same condition as ``level_outcome``'s extra care, plus the practice rows."""
    if age >= policy.elderly_special_care_age and level >= policy.high_risk_from:
        steps.append(ELDERLY_CARE)
        notes.append("elderly_high_risk")
    if policy.second_check_age is not None and age >= policy.second_check_age and not facts.professional:
        steps.append(SECOND_CHECK)
        notes.append("second_check_age")
    if age >= policy.elderly_definition_age and not steps:
        notes.append("elderly_customer")
