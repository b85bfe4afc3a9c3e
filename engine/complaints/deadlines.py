"""Complaint deadlines as pure functions of the case clock (docs/domain.md §1.4, §1.6).

The 2020 rule counts **calendar days** (日, not 工作日) from receipt; 民法典 Art. 201 leaves the day of
receipt out and Art. 203 moves a last day that falls on a statutory rest day to the next working day.
CareFlow keeps both dates on a case (§1.4 worked example):

- the **internal target**: receipt + N calendar days, never moved — what the bank aims for;
- the **legal due date**: the same day rolled over rest days (``BusinessCalendar.legal_deadline``).

N is 15, 30 after a complex-case extension, 60 after an approved special extension (the customer is
told). Days spent on an outside appraisal, test or valuation are not counted (the due dates move by
the paused days). New facts or reasons restart the clock from the day the new material arrived. A
regulator's transfer notice may set an earlier reply date; the earlier date wins (§1.6, §1.8).
Everything is counted in bank-local days (``Settings.zone``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from engine.config import Settings
from engine.rules.calendar import BusinessCalendar

Extension = Literal["none", "complex", "special"]
EXTENSIONS: tuple[Extension, ...] = ("none", "complex", "special")


@dataclass(frozen=True)
class CaseClock:
    """What the deadlines depend on; every change is a ``complaint_event``."""

    started_on: date  # bank-local day of receipt, or of the new material after new facts
    extension: Extension = "none"
    paused_days: int = 0
    regulator_due_on: date | None = None


@dataclass(frozen=True)
class Deadlines:
    days: int  # the period in calendar days (15, 30 or 60)
    target_on: date  # internal target: start + days + paused days, unshifted
    legal_on: date  # last legal day: the target rolled over rest days (Art. 203), or the regulator's earlier date
    warn_on: date  # the supervisors' warning day (day 10 of 15; as many days before the target when extended)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The bank-local calendar day of an aware instant."""
    return moment.astimezone(zone).date()


def decision_days(extension: Extension, settings: Settings) -> int:
    """15, 30 or 60 calendar days from receipt (docs/domain.md §0 ``complaint.decision_days.*``)."""
    return {
        "none": settings.complaints.decision_days_simple,
        "complex": settings.complaints.decision_days_complex,
        "special": settings.complaints.decision_days_special_max,
    }[extension]


def deadlines(clock: CaseClock, calendar: BusinessCalendar, settings: Settings) -> Deadlines:
    """Target, legal and warning days for ``clock``.

    Received 2026-09-20: day 15 is 2026-10-05, inside the National Day holiday, so the target stays
    2026-10-05 and the legal last day is 2026-10-08 (docs/domain.md §1.4 worked example).
    """
    days = decision_days(clock.extension, settings)
    counted = days + clock.paused_days
    target = clock.started_on + timedelta(days=counted)
    legal = calendar.legal_deadline(clock.started_on, counted)
    if clock.regulator_due_on is not None:
        target, legal = min(target, clock.regulator_due_on), min(legal, clock.regulator_due_on)
    lead = settings.complaints.decision_days_simple - settings.complaints.warn_day
    warn = max(clock.started_on, target - timedelta(days=lead))
    return Deadlines(days=days, target_on=target, legal_on=legal, warn_on=warn)


def extend(clock: CaseClock, extension: Extension) -> CaseClock:
    """The clock after an extension; an extension never shortens the period (special stays special)."""
    if EXTENSIONS.index(extension) <= EXTENSIONS.index(clock.extension):
        return clock
    return replace(clock, extension=extension)


def paused_days(paused_at: datetime, resumed_at: datetime, zone: ZoneInfo) -> int:
    """Whole bank-local days an appraisal pause lasted (paused 3-05, resumed 3-12 → 7 days not counted)."""
    return max(0, (local_day(resumed_at, zone) - local_day(paused_at, zone)).days)


def resume(clock: CaseClock, paused_at: datetime, resumed_at: datetime, zone: ZoneInfo) -> CaseClock:
    """The clock after an appraisal pause ended: the pause's days are added to the uncounted days."""
    return replace(clock, paused_days=clock.paused_days + paused_days(paused_at, resumed_at, zone))


def restart(clock: CaseClock, new_material_at: datetime, zone: ZoneInfo) -> CaseClock:
    """New facts or reasons: the period starts again from the new material's receipt (docs/domain.md §1.4).

    The period itself starts over too: no extension, no paused days carried over.
    """
    return CaseClock(started_on=local_day(new_material_at, zone), regulator_due_on=clock.regulator_due_on)


def review_apply_by(answered_at: datetime, calendar: BusinessCalendar, settings: Settings) -> date:
    """Last day the complainant may ask the superior institution for a review (核查, docs/domain.md §1.6): 30 days."""
    return calendar.legal_deadline(local_day(answered_at, settings.zone), settings.complaints.review_apply_window_days)


def review_due(requested_at: datetime, calendar: BusinessCalendar, settings: Settings) -> date:
    """Day the review decision is due: 30 days from the request (docs/domain.md §1.6, tag M: a setting)."""
    return calendar.legal_deadline(local_day(requested_at, settings.zone), settings.complaints.review_decision_days)


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The last second of a bank-local day, in UTC: a task due "on" that day breaches after it."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)


def clock_data(clock: CaseClock, due: Deadlines, pause_started_at: datetime | None = None) -> dict[str, object]:
    """The clock as JSON process data (the ``clock`` variable of ``complaint_handling``)."""
    return {
        "started_on": clock.started_on.isoformat(), "extension": clock.extension, "paused_days": clock.paused_days,
        "regulator_due_on": clock.regulator_due_on.isoformat() if clock.regulator_due_on else None,
        "pause_started_at": pause_started_at.isoformat() if pause_started_at else None,
        "days": due.days, "target_on": due.target_on.isoformat(), "legal_on": due.legal_on.isoformat(),
        "warn_on": due.warn_on.isoformat(),
    }


def clock_from_data(data: dict[str, object]) -> tuple[CaseClock, datetime | None]:
    """Inverse of :func:`clock_data`: the clock and the running pause's start, if any."""
    extension = str(data.get("extension") or "none")
    if extension not in EXTENSIONS:
        raise ValueError(f"unknown extension {extension!r}")
    regulator = data.get("regulator_due_on")
    paused_at = data.get("pause_started_at")
    clock = CaseClock(
        started_on=date.fromisoformat(str(data["started_on"])), extension=extension,
        paused_days=int(str(data.get("paused_days") or 0)),
        regulator_due_on=date.fromisoformat(str(regulator)) if regulator else None,
    )
    return clock, datetime.fromisoformat(str(paused_at)) if paused_at else None
