"""Care dates: festival table, lunar and 29-Feb birthdays, Qingming, 周岁 ages (docs/domain.md §5).

Expected dates are written out literally (docs/domain.md §5.2's computed table, or derived by hand
from it); none is recomputed here with the library the module uses.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from engine.rules.care_dates import (
    CareDateOutOfRangeError,
    LunarBirthday,
    NoBirthdayInYearError,
    age_on,
    birthday_in_year,
    birthdays_between,
    holiday_occasions,
    is_qingming,
    occasions_on,
    qingming_day,
)

# docs/domain.md §5.2, computed dates 2025–2030: year -> (除夕, 春节, 元宵, 清明, 端午, 中秋, 重阳), as MM-DD.
DOMAIN_TABLE = {
    2025: ("01-28", "01-29", "02-12", "04-04", "05-31", "10-06", "10-29"),
    2026: ("02-16", "02-17", "03-03", "04-05", "06-19", "09-25", "10-18"),
    2027: ("02-05", "02-06", "02-20", "04-05", "06-09", "09-15", "10-08"),
    2028: ("01-25", "01-26", "02-09", "04-04", "05-28", "10-03", "10-26"),
    2029: ("02-12", "02-13", "02-27", "04-04", "06-16", "09-22", "10-16"),
    2030: ("02-02", "02-03", "02-17", "04-05", "06-05", "09-12", "10-05"),
}


def d(year: int, mmdd: str) -> date:
    month, day = mmdd.split("-")
    return date(year, int(month), int(day))


def walk(start: date, end: date, **birthday: object) -> list[date]:
    """What a daily scan sees: every day on which ``birthdays_between(day, day)`` is non-empty."""
    hits: list[date] = []
    day = start
    while day <= end:
        found = birthdays_between(day, day, **birthday)  # type: ignore[arg-type]
        assert found in ([], [day])
        hits += found
        day += timedelta(days=1)
    return hits


# --- festivals -------------------------------------------------------------------------------


@pytest.mark.parametrize("year", sorted(DOMAIN_TABLE))
def test_holiday_occasions_match_domain_table(year: int) -> None:
    _, spring, lantern, _, dragon, mid_autumn, double_ninth = DOMAIN_TABLE[year]
    days = {o.key: o.day for o in holiday_occasions(year)}
    assert days == {
        "new_year": date(year, 1, 1),
        "spring_festival": d(year, spring),
        "lantern": d(year, lantern),
        "dragon_boat": d(year, dragon),
        "mid_autumn": d(year, mid_autumn),
        "national_day": date(year, 10, 1),
        "double_ninth": d(year, double_ninth),
    }


@pytest.mark.parametrize("year", sorted(DOMAIN_TABLE))
def test_qingming_matches_domain_table(year: int) -> None:
    qingming = d(year, DOMAIN_TABLE[year][3])
    assert qingming_day(year) == qingming
    assert is_qingming(qingming)
    other = date(year, 4, 9 - qingming.day)  # the other of 4 and 5 April
    assert not is_qingming(other)
    assert occasions_on(qingming) == []  # no festive greeting on Qingming


@pytest.mark.parametrize(
    ("year", "expected"),
    # From lunar_python's astronomical solar-term table (a different library from the module's formula).
    [(1900, date(1900, 4, 5)), (1950, date(1950, 4, 5)), (1999, date(1999, 4, 5)), (2000, date(2000, 4, 4)),
     (2008, date(2008, 4, 4)), (2099, date(2099, 4, 4))],
)
def test_qingming_across_the_supported_range(year: int, expected: date) -> None:
    assert qingming_day(year) == expected


def test_holiday_occasions_sorted_with_names_and_min_age() -> None:
    occasions = holiday_occasions(2025)
    assert [o.key for o in occasions] == [
        "new_year", "spring_festival", "lantern", "dragon_boat", "national_day", "mid_autumn", "double_ninth",
    ]
    by_key = {o.key: o for o in occasions}
    assert [by_key[k].name_zh for k in ("new_year", "spring_festival", "lantern", "dragon_boat", "mid_autumn",
                                         "national_day", "double_ninth")] == [
        "元旦", "春节", "元宵节", "端午节", "中秋节", "国庆节", "重阳节",
    ]
    assert by_key["double_ninth"].min_age == 60
    assert all(o.min_age is None for o in occasions if o.key != "double_ninth")
    assert "qingming" not in by_key


def test_occasions_on() -> None:
    assert [o.key for o in occasions_on(date(2025, 10, 6))] == ["mid_autumn"]
    assert [o.key for o in occasions_on(date(2026, 2, 17))] == ["spring_festival"]
    assert occasions_on(date(2025, 10, 7)) == []
    # 2020: Mid-Autumn fell on National Day itself.
    assert sorted(o.key for o in occasions_on(date(2020, 10, 1))) == ["mid_autumn", "national_day"]


# --- solar birthdays, 29 February ------------------------------------------------------------


def test_leap_day_birthday_feb28_by_default_and_mar1_by_setting() -> None:
    born = date(2000, 2, 29)
    assert birthday_in_year(2025, solar=born) == date(2025, 2, 28)
    assert birthday_in_year(2025, solar=born, leap_day_rule="mar1") == date(2025, 3, 1)
    assert birthday_in_year(2028, solar=born) == date(2028, 2, 29)
    assert birthday_in_year(2028, solar=born, leap_day_rule="mar1") == date(2028, 2, 29)


def test_leap_day_birthday_greeted_once_a_year() -> None:
    hits = walk(date(2025, 1, 1), date(2030, 12, 31), solar=date(1992, 2, 29))
    assert hits == [date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29), date(2029, 2, 28),
                    date(2030, 2, 28)]


def test_ordinary_solar_birthday() -> None:
    assert birthday_in_year(2027, solar=date(1961, 7, 14)) == date(2027, 7, 14)
    assert birthdays_between(date(2025, 7, 15), date(2026, 7, 13), solar=date(1961, 7, 14)) == []
    assert birthdays_between(date(2026, 7, 14), date(2026, 7, 14), solar=date(1961, 7, 14)) == [date(2026, 7, 14)]
    assert birthdays_between(date(2026, 1, 2), date(2026, 1, 1), solar=date(1961, 7, 14)) == []


# --- lunar birthdays -------------------------------------------------------------------------


def test_leap_month_birth_domain_example() -> None:
    born = LunarBirthday.from_solar(date(2023, 4, 5))  # 2023 闰二月十五 (the leap 2nd month began 2023-03-22)
    assert born == LunarBirthday(month=2, day=15, leap=True)
    assert birthday_in_year(2024, lunar=born) == date(2024, 3, 24)
    assert birthday_in_year(2025, lunar=born) == date(2025, 3, 14)
    assert birthday_in_year(2026, lunar=born) == date(2026, 4, 2)
    # 2042 has a leap 2nd month again (闰二月十五 = 04-05): the ordinary month is used, once.
    assert birthdays_between(date(2042, 1, 1), date(2042, 12, 31), lunar=born) == [date(2042, 3, 6)]


def test_from_solar_ordinary_date() -> None:
    assert LunarBirthday.from_solar(date(2025, 10, 6)) == LunarBirthday(8, 15)  # Mid-Autumn 2025


def test_lunar_30th_in_a_29_day_month_is_the_29th() -> None:
    # Lunar 2025: 8/15 = 10-06 (中秋) and 9/9 = 10-29 (重阳), so 9/1 = 10-21 and the 8th month
    # ends on 10-20 = 8/29 (8/1 = 09-22; 29 days). In lunar 2029 the 8th month is long:
    # 8/15 = 09-22 so 8/30 = 10-07, and 9/9 = 10-16 gives 9/1 = 10-08.
    born = LunarBirthday(8, 30)
    assert birthday_in_year(2025, lunar=born) == date(2025, 10, 20)
    assert birthday_in_year(2029, lunar=born) == date(2029, 10, 7)


def test_lunar_12_30_falls_on_chuxi_when_the_12th_month_is_short() -> None:
    # docs/domain.md: lunar years 2024–2027 have no 腊月三十, so the 12/30 birthday is 除夕 (12/29).
    hits = birthdays_between(date(2025, 1, 1), date(2030, 12, 31), lunar=LunarBirthday(12, 30))
    assert hits == [d(year, DOMAIN_TABLE[year][0]) for year in sorted(DOMAIN_TABLE)]


def test_late_12th_month_birthday_lands_in_next_gregorian_year() -> None:
    # 12/20 of lunar year Y is in January/February of Y+1; one per Gregorian year here, no gap.
    born = LunarBirthday(12, 20)
    hits = walk(date(2025, 1, 1), date(2030, 12, 31), lunar=born)
    assert hits == [date(2025, 1, 19), date(2026, 2, 7), date(2027, 1, 27), date(2028, 1, 16), date(2029, 2, 3),
                    date(2030, 1, 23)]
    assert birthday_in_year(2026, lunar=born) == date(2026, 2, 7)


def test_lunar_12_1_twice_in_2027_and_not_in_2025() -> None:
    # docs/domain.md: lunar 2024–2027 have no 腊月三十, so 除夕 is 12/29 and 12/1 = 除夕 − 28 days:
    # lunar 2024 → 2024-12-31, lunar 2025 → 2026-01-19, lunar 2026 → 2027-01-08, lunar 2027 → 2027-12-28.
    born = LunarBirthday(12, 1)
    assert birthdays_between(date(2025, 1, 1), date(2025, 12, 31), lunar=born) == []
    with pytest.raises(NoBirthdayInYearError):
        birthday_in_year(2025, lunar=born)
    assert birthdays_between(date(2027, 1, 1), date(2027, 12, 31), lunar=born) == [date(2027, 1, 8), date(2027, 12, 28)]
    assert birthday_in_year(2027, lunar=born) == date(2027, 1, 8)
    # Still exactly one per lunar year: 2024-12-31 is lunar 2024's, 2026-01-19 lunar 2025's.
    assert birthdays_between(date(2024, 12, 1), date(2026, 1, 31), lunar=born) == [date(2024, 12, 31), date(2026, 1, 19)]


@pytest.mark.parametrize(
    "born",
    [LunarBirthday(1, 1), LunarBirthday(2, 15, leap=True), LunarBirthday(6, 30), LunarBirthday(8, 30),
     LunarBirthday(11, 15), LunarBirthday(12, 1), LunarBirthday(12, 20), LunarBirthday(12, 30)],
)
def test_daily_scan_gives_one_date_per_lunar_year(born: LunarBirthday) -> None:
    start, end = date(2024, 6, 1), date(2031, 6, 30)
    hits = walk(start, end, lunar=born)
    # Lunar years 2024..2030 run from 2024-02-10 to 2031-01-22; the birthdays of lunar 2025..2030 lie
    # wholly inside the walk, lunar 2024's may or may not (it is before 2024-06-01 for months < 5).
    assert 6 <= len(hits) <= 7
    gaps = [(b - a).days for a, b in zip(hits, hits[1:], strict=False)]
    assert all(300 <= gap <= 386 for gap in gaps), gaps  # never two within 300 days, never a skipped year
    assert (hits[0] - start).days <= 386 and (end - hits[-1]).days <= 386
    assert hits == birthdays_between(start, end, lunar=born)


# --- ages ------------------------------------------------------------------------------------


def test_age_on() -> None:
    born = date(1965, 10, 29)
    assert age_on(born, date(2025, 10, 28)) == 59
    assert age_on(born, date(2025, 10, 29)) == 60
    assert age_on(born, born) == 0
    with pytest.raises(ValueError, match="before the birth"):
        age_on(born, date(1965, 10, 28))


def test_age_on_leap_day_birth() -> None:
    born = date(2008, 2, 29)
    assert age_on(born, date(2025, 2, 27)) == 16
    assert age_on(born, date(2025, 2, 28)) == 17  # 民法典 Art. 202: month-end of February
    assert age_on(born, date(2025, 2, 28), leap_day_rule="mar1") == 16
    assert age_on(born, date(2025, 3, 1), leap_day_rule="mar1") == 17
    assert age_on(born, date(2028, 2, 28)) == 19
    assert age_on(born, date(2028, 2, 29)) == 20


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: holiday_occasions(1899),
        lambda: holiday_occasions(2100),
        lambda: occasions_on(date(2100, 1, 1)),
        lambda: is_qingming(date(2100, 4, 4)),
        lambda: birthday_in_year(2100, lunar=LunarBirthday(1, 1)),
        lambda: birthdays_between(date(1899, 12, 1), date(1900, 12, 31), lunar=LunarBirthday(1, 1)),
        lambda: birthdays_between(date(2099, 12, 1), date(2100, 1, 5), lunar=LunarBirthday(1, 1)),
        lambda: LunarBirthday.from_solar(date(1900, 1, 30)),
    ],
)
def test_out_of_range_is_a_clear_value_error(call: object) -> None:
    with pytest.raises(CareDateOutOfRangeError, match="1900.*2099") as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, ValueError)


def test_solar_birthdays_need_no_lunar_range() -> None:
    assert birthday_in_year(2100, solar=date(2000, 2, 29)) == date(2100, 2, 28)  # 2100 is a common year


def test_exactly_one_of_solar_or_lunar() -> None:
    with pytest.raises(TypeError):
        birthday_in_year(2025)
    with pytest.raises(TypeError):
        birthdays_between(date(2025, 1, 1), date(2025, 1, 1), solar=date(2000, 1, 1), lunar=LunarBirthday(1, 1))


@pytest.mark.parametrize(("month", "day"), [(0, 1), (13, 1), (1, 0), (1, 31)])
def test_invalid_lunar_birthday(month: int, day: int) -> None:
    with pytest.raises(ValueError, match="invalid lunar birthday"):
        LunarBirthday(month, day)
