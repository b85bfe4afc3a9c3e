"""Complaint deadlines (docs/domain.md §1.4, §1.6): calendar days from receipt, Art. 201/203 roll-over, extensions,
appraisal pauses, new facts, regulator dates. Every expected date is written out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.complaints import deadlines as dl
from engine.config import Settings
from engine.rules.calendar import BusinessCalendar

SETTINGS = Settings()
CALENDAR = BusinessCalendar()
SHANGHAI = ZoneInfo("Asia/Shanghai")


def due(received: date, **clock: object) -> dl.Deadlines:
    return dl.deadlines(dl.CaseClock(started_on=received, **clock), CALENDAR, SETTINGS)  # type: ignore[arg-type]


@pytest.mark.parametrize(("received", "target", "legal"), [
    (date(2025, 3, 3), date(2025, 3, 18), date(2025, 3, 18)),  # an ordinary Monday: day 15 is a Tuesday
    (date(2025, 3, 8), date(2025, 3, 23), date(2025, 3, 24)),  # day 15 is a Sunday → Monday
    (date(2026, 9, 16), date(2026, 10, 1), date(2026, 10, 8)),  # National Day 10-01…10-07
    (date(2026, 9, 20), date(2026, 10, 5), date(2026, 10, 8)),  # docs/domain.md §1.4 worked example
    (date(2026, 9, 23), date(2026, 10, 8), date(2026, 10, 8)),  # first working day after the holiday
    (date(2026, 1, 31), date(2026, 2, 15), date(2026, 2, 24)),  # Spring Festival 2026: 02-15…02-23 off
    (date(2026, 2, 5), date(2026, 2, 20), date(2026, 2, 24)),
    (date(2026, 2, 8), date(2026, 2, 23), date(2026, 2, 24)),
    (date(2026, 2, 9), date(2026, 2, 24), date(2026, 2, 24)),
    (date(2026, 1, 30), date(2026, 2, 14), date(2026, 2, 14)),  # Saturday 02-14 is a shifted working day (调休)
])
def test_fifteen_calendar_days_target_and_legal_day(received, target, legal):
    found = due(received)
    assert (found.days, found.target_on, found.legal_on) == (15, target, legal)


def test_walked_day_by_day_around_spring_festival_2026():
    """Every receipt day from 01-25 to 02-12: the target moves one day a day; the legal day waits out the holiday."""
    legal_days = {}
    for offset in range(19):
        received = date(2026, 1, 25) + timedelta(days=offset)
        found = due(received)
        assert found.target_on == received + timedelta(days=15)
        legal_days[received.isoformat()] = found.legal_on.isoformat()
    assert legal_days == {
        "2026-01-25": "2026-02-09", "2026-01-26": "2026-02-10", "2026-01-27": "2026-02-11",
        "2026-01-28": "2026-02-12", "2026-01-29": "2026-02-13", "2026-01-30": "2026-02-14",
        "2026-01-31": "2026-02-24", "2026-02-01": "2026-02-24", "2026-02-02": "2026-02-24",
        "2026-02-03": "2026-02-24", "2026-02-04": "2026-02-24", "2026-02-05": "2026-02-24",
        "2026-02-06": "2026-02-24", "2026-02-07": "2026-02-24", "2026-02-08": "2026-02-24",
        "2026-02-09": "2026-02-24", "2026-02-10": "2026-02-25", "2026-02-11": "2026-02-26",
        "2026-02-12": "2026-02-27",
    }


def test_receipt_day_is_the_bank_local_day():
    late_evening = datetime(2025, 3, 3, 17, 0, tzinfo=UTC)  # 01:00 on 4 March in Shanghai
    assert dl.local_day(late_evening, SHANGHAI) == date(2025, 3, 4)
    assert due(dl.local_day(late_evening, SHANGHAI)).target_on == date(2025, 3, 19)


def test_warning_day_is_day_ten_and_moves_with_the_target():
    assert due(date(2025, 3, 3)).warn_on == date(2025, 3, 13)
    assert due(date(2025, 3, 3), extension="complex").warn_on == date(2025, 3, 28)


def test_complex_and_special_extensions_count_from_receipt():
    complex_case = due(date(2025, 3, 3), extension="complex")
    assert (complex_case.days, complex_case.target_on, complex_case.legal_on) == (30, date(2025, 4, 2), date(2025, 4, 2))
    special = due(date(2025, 3, 3), extension="special")  # day 60 is 2 May, inside the Labour Day holiday
    assert (special.days, special.target_on, special.legal_on) == (60, date(2025, 5, 2), date(2025, 5, 6))


def test_an_extension_never_shortens_the_period():
    clock = dl.CaseClock(date(2025, 3, 3))
    assert dl.extend(clock, "complex").extension == "complex"
    assert dl.extend(dl.extend(clock, "special"), "complex").extension == "special"


def test_a_seven_day_appraisal_pause_is_not_counted():
    clock = dl.CaseClock(date(2025, 3, 3))
    paused_at = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)  # 10:00 on 5 March
    resumed_at = datetime(2025, 3, 12, 7, 30, tzinfo=UTC)  # 15:30 on 12 March
    assert dl.paused_days(paused_at, resumed_at, SHANGHAI) == 7
    resumed = dl.resume(clock, paused_at, resumed_at, SHANGHAI)
    found = dl.deadlines(resumed, CALENDAR, SETTINGS)
    assert (resumed.paused_days, found.target_on, found.legal_on) == (7, date(2025, 3, 25), date(2025, 3, 25))
    again = dl.resume(resumed, datetime(2025, 3, 20, 2, tzinfo=UTC), datetime(2025, 3, 22, 2, tzinfo=UTC), SHANGHAI)
    assert dl.deadlines(again, CALENDAR, SETTINGS).target_on == date(2025, 3, 27)  # pauses add up


def test_new_facts_restart_the_clock_from_the_new_material():
    extended = dl.CaseClock(date(2025, 3, 3), extension="complex", paused_days=4)
    restarted = dl.restart(extended, datetime(2025, 3, 10, 8, 0, tzinfo=UTC), SHANGHAI)
    assert restarted == dl.CaseClock(date(2025, 3, 10))
    assert dl.deadlines(restarted, CALENDAR, SETTINGS).target_on == date(2025, 3, 25)


def test_a_regulators_earlier_reply_date_wins():
    found = due(date(2025, 3, 3), regulator_due_on=date(2025, 3, 10))
    assert (found.target_on, found.legal_on) == (date(2025, 3, 10), date(2025, 3, 10))
    later = due(date(2025, 3, 3), regulator_due_on=date(2025, 4, 30))
    assert (later.target_on, later.legal_on) == (date(2025, 3, 18), date(2025, 3, 18))


def test_review_window_and_review_decision_roll_over_rest_days():
    answered = datetime(2025, 3, 5, 3, 0, tzinfo=UTC)  # day 30 is 4 April, Qingming (04-04…04-06)
    assert dl.review_apply_by(answered, CALENDAR, SETTINGS) == date(2025, 4, 7)
    assert dl.review_due(datetime(2025, 3, 23, 2, 0, tzinfo=UTC), CALENDAR, SETTINGS) == date(2025, 4, 22)


def test_clock_data_round_trips_through_process_variables():
    clock = dl.CaseClock(date(2025, 3, 3), extension="special", paused_days=2, regulator_due_on=date(2025, 6, 1))
    paused_at = datetime(2025, 3, 20, 1, 0, tzinfo=UTC)
    data = dl.clock_data(clock, dl.deadlines(clock, CALENDAR, SETTINGS), paused_at)
    assert data["target_on"] == "2025-05-04" and data["legal_on"] == "2025-05-06" and data["days"] == 60
    assert dl.clock_from_data(data) == (clock, paused_at)
    with pytest.raises(ValueError, match="unknown extension"):
        dl.clock_from_data({**data, "extension": "forever"})


def test_end_of_a_bank_day_in_utc():
    assert dl.end_of_day(date(2025, 3, 18), SHANGHAI) == datetime(2025, 3, 18, 15, 59, 59, tzinfo=UTC)
    assert dl.start_of_day(date(2025, 3, 13), SHANGHAI) == datetime(2025, 3, 12, 16, 0, tzinfo=UTC)
