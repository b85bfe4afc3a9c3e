"""Business calendar against known official dates (State Council notices for 2025 and 2026)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from engine.rules.calendar import BankTable, BusinessCalendar, CalendarOutOfRangeError

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
    # docs/domain.md §1.4 worked example: received 2026-09-20, 15 days → 10-05 (National Day) → 10-08.
    assert CAL.legal_deadline(date(2026, 9, 20), 15) == date(2026, 10, 8)
    assert CAL.legal_deadline(date(2025, 3, 3), 15) == date(2025, 3, 18)  # a normal Tuesday: unchanged
    assert CAL.legal_deadline(date(2025, 3, 1), 15) == date(2025, 3, 17)  # Sunday 16th → Monday 17th


def test_years_without_official_data_fail_loudly_or_are_estimated_from_the_statutory_holidays():
    strict = BusinessCalendar(fallback="error")
    with pytest.raises(CalendarOutOfRangeError) as info:
        strict.is_workday(date(2031, 1, 2))
    assert info.value.details == {"year": 2031}
    assert (strict.source(2026), strict.source(2031)) == ("official", "missing")
    assert BusinessCalendar({date(2031, 1, 2): False}, fallback="error").is_workday(date(2031, 1, 2)) is False
    # 2027 (no notice in chinesecalendar 1.11): Spring Festival is 除夕 02-05 and 02-06..08, the weekend days made up
    # on 02-09 and 02-10 (Art. 6); no 调休 swap is guessed, so Saturday 02-13 stays a rest day.
    assert CAL.source(2027) == "estimated"
    assert [CAL.is_workday(date(2027, 2, d)) for d in range(4, 14)] == \
        [True, False, False, False, False, False, False, True, True, False]
    assert CAL.is_workday(date(2027, 10, 5)) is False and CAL.is_workday(date(2027, 10, 6)) is True
    assert CAL.legal_deadline(date(2026, 12, 17), 15) == date(2027, 1, 4)  # 01-01 Friday, then the weekend


def test_overrides_win_over_the_library():
    bank = BusinessCalendar({date(2025, 3, 3): False})  # e.g. a local typhoon closure
    assert bank.add_workdays(date(2025, 2, 28), 1) == date(2025, 3, 4)


def test_a_year_table_from_the_bank_replaces_the_estimate():
    notice = BankTable({date(2027, 2, 9): False, date(2027, 2, 13): True}, frozenset({2027}))
    bank = BusinessCalendar(loader=lambda: notice)
    assert bank.source(2027) == "bank"
    assert bank.is_workday(date(2027, 2, 13)) is True  # a shifted working Saturday
    assert bank.is_workday(date(2027, 2, 9)) is False
    assert bank.is_workday(date(2027, 2, 10)) is True  # not in the table: Monday to Friday works
    assert bank.is_workday(date(2026, 2, 14)) is True and bank.is_workday(date(2026, 2, 16)) is False  # 2026: official


def test_the_bank_table_is_read_again_after_max_age_or_at_once_when_invalidated():
    now = [0.0]
    tables = [BankTable(), BankTable({date(2026, 3, 3): False})]
    reads: list[int] = []

    def loader() -> BankTable:
        reads.append(1)
        if len(reads) == 3:
            raise OSError("database down")
        return tables[min(len(reads), 2) - 1]

    calendar = BusinessCalendar(loader=loader, max_age=30, monotonic=lambda: now[0])
    assert calendar.is_workday(date(2026, 3, 3)) is True and len(reads) == 1
    now[0] = 29.0
    assert calendar.is_workday(date(2026, 3, 3)) is True and len(reads) == 1
    now[0] = 30.0
    assert calendar.is_workday(date(2026, 3, 3)) is False and len(reads) == 2
    calendar.invalidate()  # the third read fails: the last table read stays in use
    assert calendar.is_workday(date(2026, 3, 3)) is False and len(reads) == 3


def test_other_countries_come_from_the_holidays_library():
    hong_kong = BusinessCalendar(country="HK")
    assert hong_kong.is_workday(date(2025, 12, 25)) is False  # Christmas, a Thursday
    assert hong_kong.is_workday(date(2025, 12, 24)) is True
    assert hong_kong.is_workday(date(2025, 10, 1)) is False  # National Day
    assert hong_kong.source(2030) == "official"
    with pytest.raises(ValueError, match="unknown calendar country"):
        BusinessCalendar(country="XX")
