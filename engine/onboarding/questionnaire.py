"""The risk-tolerance questionnaire (风险承受能力评估): questions with points → C1..C5 (docs/domain.md §2.2, §2.3).

Seven questions in zh-CN and English, each answer worth points; the total (7–35) maps to the
five customer levels C1 保守 conservative … C5 进取 aggressive. The bank must not fill in or
steer the answers (docs/domain.md §2.2): the form ``forms/onboarding_risk.json`` carries exactly these
questions and answer values (a test checks they agree), staff only record what the customer
chose. An assessment is valid for ``Settings.sales.assessment_valid_months`` (default 12)
and carries ``VERSION`` so a later questionnaire change never reinterprets an old score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta

VERSION = "2025.1"


@dataclass(frozen=True)
class Question:
    key: str
    zh: str
    en: str
    answers: tuple[tuple[str, int, str, str], ...]  # (value, points, zh, en)


QUESTIONS: tuple[Question, ...] = (
    Question("risk_age", "您的年龄", "Your age", (
        ("over_65", 1, "65岁及以上", "65 or over"), ("56_65", 2, "56–65岁", "56 to 65"),
        ("46_55", 3, "46–55岁", "46 to 55"), ("18_30", 4, "18–30岁", "18 to 30"), ("31_45", 5, "31–45岁", "31 to 45"))),
    Question("risk_income", "家庭年收入", "Household income a year", (
        ("below_100k", 1, "10万元以下", "under ¥100k"), ("100k_300k", 2, "10万–30万元", "¥100k–300k"),
        ("300k_500k", 3, "30万–50万元", "¥300k–500k"), ("500k_1m", 4, "50万–100万元", "¥500k–1m"),
        ("over_1m", 5, "100万元以上", "over ¥1m"))),
    Question("risk_share", "可投资金额占家庭金融资产的比例", "Share of household financial assets you would invest", (
        ("over_70", 1, "70%以上", "over 70%"), ("50_70", 2, "50%–70%", "50–70%"), ("30_50", 3, "30%–50%", "30–50%"),
        ("10_30", 4, "10%–30%", "10–30%"), ("below_10", 5, "10%以下", "under 10%"))),
    Question("risk_experience", "投资经验", "Investment experience", (
        ("none", 1, "仅有存款", "deposits only"), ("bonds_wmp", 2, "国债、低风险理财", "bonds, low-risk WMPs"),
        ("funds", 3, "基金、混合类理财", "funds, mixed WMPs"), ("stocks", 4, "股票", "stocks"),
        ("derivatives", 5, "期货、衍生品等", "futures, derivatives"))),
    Question("risk_horizon", "计划投资期限", "How long you plan to invest", (
        ("below_1y", 1, "1年以内", "under 1 year"), ("1_3y", 3, "1–3年", "1 to 3 years"),
        ("3_5y", 4, "3–5年", "3 to 5 years"), ("over_5y", 5, "5年以上", "over 5 years"))),
    Question("risk_goal", "投资目标", "Investment goal", (
        ("preserve", 1, "保本，不能接受亏损", "keep the capital, no loss"),
        ("steady", 2, "稳定收益，可承受小幅波动", "steady income, small swings"),
        ("balanced", 3, "收益与风险平衡", "balance return and risk"),
        ("growth", 4, "较高收益，可承受较大波动", "higher return, larger swings"),
        ("max", 5, "追求高收益，可承受大幅亏损", "highest return, large losses acceptable"))),
    Question("risk_loss", "可承受的最大亏损", "The largest loss you could bear", (
        ("none", 1, "不能承受亏损", "none"), ("below_10", 2, "10%以内", "up to 10%"),
        ("10_30", 3, "10%–30%", "10–30%"), ("30_50", 4, "30%–50%", "30–50%"), ("over_50", 5, "50%以上", "over 50%"))),
)
# Upper bounds of the total for C1..C4; anything above is C5.
LEVEL_CEILINGS = (12, 18, 24, 30)
LEVEL_NAMES = {1: ("保守型", "conservative"), 2: ("稳健型", "cautious"), 3: ("平衡型", "balanced"),
               4: ("成长型", "growth"), 5: ("进取型", "aggressive")}


class IncompleteQuestionnaireError(ValueError):
    """An answer is missing or is not one of the question's values."""


@dataclass(frozen=True)
class Assessment:
    score: int
    level: int  # 1..5 = C1..C5
    version: str
    valid_until: date


def score(answers: Mapping[str, Any]) -> int:
    """Total points; raises IncompleteQuestionnaireError naming the first missing or unknown answer."""
    total = 0
    for question in QUESTIONS:
        points = {value: pts for value, pts, _, _ in question.answers}
        answer = answers.get(question.key)
        if answer not in points:
            raise IncompleteQuestionnaireError(f"question {question.key} has no valid answer ({answer!r})")
        total += points[answer]
    return total


def level_for(total: int) -> int:
    """7–12 → C1, 13–18 → C2, 19–24 → C3, 25–30 → C4, 31–35 → C5."""
    return next((i + 1 for i, ceiling in enumerate(LEVEL_CEILINGS) if total <= ceiling), 5)


def assess(answers: Mapping[str, Any], assessed_on: date, valid_months: int = 12) -> Assessment:
    total = score(answers)
    return Assessment(total, level_for(total), VERSION, assessed_on + relativedelta(months=valid_months))
