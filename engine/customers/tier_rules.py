"""Tier rules: AUM → tier, 快升缓降 hysteresis, revisit frequency and manager group by tier (pure, no I/O).

docs/domain.md §4.2: the tier is a function of the customer's AUM, the monthly average daily balance
(月日均) summed over accounts with a weight per account kind (loans count 0). The floors are
settings (``Settings.tiering.floors``) with the DMN ``processes/customer_tier.dmn`` holding the same
table for the onboarding process; ``tests/unit/test_tiering.py`` checks both on every boundary.
An upgrade applies at once; a downgrade only after the AUM has stayed under the current tier's
floor for N months (``Settings.tiering.downgrade_months``), counted from ``Customer.tier_below_since``.

docs/domain.md §4.3: revisit frequency by tier (practice defaults, no regulation): private banking
monthly, face to face; diamond every two months by phone (the report says "monthly to
bimonthly": bimonthly leaves the monthly cadence to private banking and keeps a diamond
manager's book workable); platinum and gold quarterly by phone; mass half-yearly, remote.
``REVISIT_FREQUENCY`` is the one table the daily revisit scan uses; the ``revisit_frequency``
DMN that ``periodic_revisit`` evaluates holds the same rows (checked by the tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta

TIER_ORDER = ("mass", "gold", "platinum", "diamond", "private")
DEFAULT_FLOORS: tuple[tuple[str, int], ...] = (("gold", 50_000), ("platinum", 200_000), ("diamond", 1_000_000),
                                               ("private", 6_000_000))
EXCLUDED_KINDS = frozenset({"loan"})  # a loan is a liability: never part of AUM, whatever the weights say


@dataclass(frozen=True)
class RevisitFrequency:
    months: int
    channel: str  # face_to_face | phone | remote


REVISIT_FREQUENCY: Mapping[str, RevisitFrequency] = {
    "private": RevisitFrequency(1, "face_to_face"),
    "diamond": RevisitFrequency(2, "phone"),
    "platinum": RevisitFrequency(3, "phone"),
    "gold": RevisitFrequency(3, "phone"),
    "mass": RevisitFrequency(6, "remote"),
}


def rank(tier: str) -> int:
    """Position of ``tier`` in TIER_ORDER (an unknown tier ranks as mass)."""
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else 0


def tier_for_aum(aum: Decimal, floors: Sequence[tuple[str, int]] = DEFAULT_FLOORS) -> str:
    """The tier whose floor ``aum`` reaches (floors inclusive: exactly 50,000.00 is gold)."""
    tier = "mass"
    for name, floor in sorted(floors, key=lambda pair: pair[1]):
        if aum >= Decimal(floor):
            tier = name
    return tier


def weighted_aum(balances: Iterable[tuple[str, Decimal]], weights: Mapping[str, float]) -> Decimal:
    """Σ monthly average daily balance × weight of its account kind (default 1; loans always 0), to the cent."""
    total = Decimal("0")
    for kind, balance in balances:
        if kind in EXCLUDED_KINDS:
            continue
        total += Decimal(balance) * Decimal(str(weights.get(kind, 1.0)))
    return total.quantize(Decimal("0.01"))


@dataclass(frozen=True)
class TierDecision:
    tier: str
    below_since: date | None
    reason: str | None  # "upgrade" | "downgrade" | None (no change)


def decide_tier(current: str, below_since: date | None, aum: Decimal, day: date, *,
                floors: Sequence[tuple[str, int]] = DEFAULT_FLOORS, downgrade_months: int = 3) -> TierDecision:
    """快升缓降 (docs/domain.md §4.2): the tier for ``aum`` observed on ``day``.

    Higher than ``current``: upgrade now. Lower: remember the first day below (``below_since``) and
    downgrade, to the tier the AUM now earns, once ``day`` is ``downgrade_months`` months after it
    (below since 2025-01-01 with 3 months: still the old tier on 2025-03-31, downgraded on
    2025-04-01). Back at or above the floor: the count starts again.
    """
    target = tier_for_aum(aum, floors)
    if rank(target) > rank(current):
        return TierDecision(target, None, "upgrade")
    if rank(target) == rank(current):
        return TierDecision(current, None, None)
    since = below_since or day
    if day >= since + relativedelta(months=downgrade_months):
        return TierDecision(target, None, "downgrade")
    return TierDecision(current, since, None)


def revisit_frequency(tier: str) -> RevisitFrequency:
    return REVISIT_FREQUENCY.get(tier, REVISIT_FREQUENCY["mass"])


def next_revisit_on(after: date, tier: str) -> date:
    """The revisit after one on ``after``: the tier's interval later (month ends clip: 31 Jan + 1 month = 28 Feb)."""
    return after + relativedelta(months=revisit_frequency(tier).months)


def manager_groups_for(aum: Decimal, bands: Sequence[tuple[int, str]]) -> list[str]:
    """Groups to pick the customer manager from, best fit first (docs/domain.md §4.3: ≥ 2m wealth centre, …).

    The band whose floor ``aum`` reaches comes first, then the lower bands as fallbacks when
    nobody in it is available.
    """
    ordered = sorted(bands, key=lambda band: band[0], reverse=True)
    return [group for floor, group in ordered if aum >= Decimal(floor)] or [ordered[-1][1]]
