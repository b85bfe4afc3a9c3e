"""Business calendar against known official dates (State Council notices for 2025 and 2026)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.rules.calendar import BusinessCalendar, CalendarOutOfRangeError

CAL = BusinessCalendar()


@pytest.mark.parametrize(
    ("day", "working"),
    [(date(2025, 1, 26), True),   # Sunday, worked in lieu before Spring Festival
     (date(2025, 1, 29), False),  # Spring Festival
     (date(2025, 2, 8), True),    # Saturday, worked in lieu
     (date(2025, 10, 8), False),  # National Day + Mid-Autumn 2025
     (date(2025, 10, 11), True),  # Saturday, worked in lieu
     (date(2026, 10, 5), False),
     (date(2026, 3, 2), True)],
)
def test_official_working_days(day, working):
    assert CAL.is_workday(day) is working


def test_adding_working_days_skips_holidays_and_counts_swapped_weekends():
    assert CAL.add_workdays(date(2025, 1, 24), 1) == date(2025, 1, 26)  # Fri → the in-lieu Sunday
    assert CAL.add_workdays(date(2025, 1, 26), 1) == date(2025, 1, 27)
    assert CAL.add_workdays(date(2025, 1, 27), 1) == date(2025, 2, 5)  # over the whole holiday
    assert CAL.add_workdays(date(2025, 9, 30), 3) == date(2025, 10, 11)  # 10-09, 10-10, in-lieu Saturday
    assert CAL.add_workdays(date(2025, 3, 3), 0) == date(2025, 3, 3)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert CAL.add_workdays_at(datetime(2025, 1, 27, 17, 30, tzinfo=shanghai), 1) == \
        datetime(2025, 2, 5, 17, 30, tzinfo=shanghai)


def test_legal_deadline_moves_off_a_holiday_per_civil_code_art_203():
    # DOMAIN.md §1.4 worked example: received 2026-09-20, 15 days → 10-05 (National Day) → 10-08.
    assert CAL.legal_deadline(date(2026, 9, 20), 15) == date(2026, 10, 8)
    assert CAL.legal_deadline(date(2025, 3, 3), 15) == date(2025, 3, 18)  # a normal Tuesday: unchanged
    assert CAL.legal_deadline(date(2025, 3, 1), 15) == date(2025, 3, 17)  # Sunday 16th → Monday 17th


def test_years_without_official_data_fail_loudly_unless_overridden_or_falling_back():
    with pytest.raises(CalendarOutOfRangeError) as info:
        CAL.is_workday(date(2031, 1, 2))
    assert info.value.details == {"year": 2031}
    assert BusinessCalendar({date(2031, 1, 2): False}).is_workday(date(2031, 1, 2)) is False
    weekends = BusinessCalendar(fallback="weekends")
    assert weekends.is_workday(date(2031, 1, 3)) is True and weekends.is_workday(date(2031, 1, 4)) is False


def test_overrides_win_over_the_library():
    bank = BusinessCalendar({date(2025, 3, 3): False})  # e.g. a local typhoon closure
    assert bank.add_workdays(date(2025, 2, 28), 1) == date(2025, 3, 4)
