"""Care dates: customer birthdays (solar or lunar), greeting festivals, Qingming and 周岁 ages.

Pure functions over ``datetime.date``: the caller passes the days (from the injected clock),
nothing here reads the time or a database. Lunar arithmetic uses ``lunardate``, which
covers lunar years 1900–2099; outside that range every lunar computation raises
:class:`CareDateOutOfRangeError` rather than guessing (docs/domain.md §5.3).

A lunar birthday happens once per *lunar* year, and that solar date may fall in the next
Gregorian year (the 12th lunar month is often January or February), so a Gregorian year
can hold zero or two of them. :func:`birthdays_between` is the exact contract for
schedulers ("is today a birthday?" is ``birthdays_between(day, day, ...)``);
:func:`birthday_in_year` is the convenience for one Gregorian year.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

from lunardate import LunarDate

BirthdayRule = Literal["feb28", "mar1"]

MIN_YEAR = 1900
MAX_YEAR = 2099
# lunardate starts at lunar 1900-01-01; a solar day before it belongs to lunar 1899.
_FIRST_LUNAR_DAY = date(1900, 1, 31)
_LAST_DAY = date(MAX_YEAR, 12, 31)


class CareDateOutOfRangeError(ValueError):
    """The date or year is outside the range the lunar calendar data covers (1900–2099)."""


class NoBirthdayInYearError(LookupError):
    """A lunar birthday (11th or 12th lunar month) with no occurrence in this Gregorian year."""


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CareDateOutOfRangeError(f"year {year} is outside the supported range {MIN_YEAR}–{MAX_YEAR}")


def _check_lunar_day(day: date) -> None:
    if not _FIRST_LUNAR_DAY <= day <= _LAST_DAY:
        raise CareDateOutOfRangeError(
            f"{day} is outside the supported range {_FIRST_LUNAR_DAY}–{_LAST_DAY} (lunar years {MIN_YEAR}–{MAX_YEAR})"
        )


@dataclass(frozen=True)
class LunarBirthday:
    """A birthday stored as lunar month and day; ``leap`` records a birth in a leap month (闰月)."""

    month: int
    day: int
    leap: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.day <= 30:
            raise ValueError(f"invalid lunar birthday {self.month}/{self.day}: month must be 1–12 and day 1–30")

    @classmethod
    def from_solar(cls, born: date) -> LunarBirthday:
        """The lunar month and day of a Gregorian birth date (what the customer celebrates)."""
        _check_lunar_day(born)
        lunar = LunarDate.from_solar_date(born.year, born.month, born.day)
        return cls(lunar.month, lunar.day, lunar.is_leap_month)


def _lunar_to_solar(lunar_year: int, month: int, day: int) -> date:
    """Solar date of an ordinary (non-leap) lunar month's day; the 30th of a 29-day month is its 29th.

    Leap-month births and festivals use the ordinary month of the same number (docs/domain.md §5.4),
    so there is exactly one date per lunar year, never two.
    """
    _check_year(lunar_year)
    try:
        return LunarDate(lunar_year, month, day).to_solar_date()
    except ValueError:
        if day != 30:
            raise
        # The month is short this year: the last day of the month stands in (common practice).
        return LunarDate(lunar_year, month, 29).to_solar_date()


def _solar_birthday(year: int, born: date, rule: BirthdayRule) -> date:
    """Same month and day; 29 Feb in a common year is 28 Feb (民法典 Art. 202) or, by setting, 1 Mar."""
    if (born.month, born.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 3, 1) if rule == "mar1" else date(year, 2, 28)
    return date(year, born.month, born.day)


def _one_of(solar: date | None, lunar: LunarBirthday | None) -> None:
    if (solar is None) == (lunar is None):
        raise TypeError("pass exactly one of solar= or lunar=")


def birthdays_between(
    start: date,
    end: date,
    *,
    solar: date | None = None,
    lunar: LunarBirthday | None = None,
    leap_day_rule: BirthdayRule = "feb28",
) -> list[date]:
    """Every birthday ``d`` with ``start <= d <= end``, sorted; one date per birthday year, never two.

    ``solar`` is the Gregorian birth date; ``lunar`` the lunar birthday. A lunar birthday's
    occurrence of lunar year Y lies inside lunar year Y, so the lunar years of ``start`` and
    ``end`` bound the search exactly. Dates before the birth itself are not filtered out.
    """
    _one_of(solar, lunar)
    if start > end:
        return []
    if lunar is None:
        assert solar is not None  # for mypy: _one_of checked it
        found = [_solar_birthday(y, solar, leap_day_rule) for y in range(start.year, end.year + 1)]
    else:
        _check_lunar_day(start)
        _check_lunar_day(end)
        first = LunarDate.from_solar_date(start.year, start.month, start.day).year
        last = LunarDate.from_solar_date(end.year, end.month, end.day).year
        found = [_lunar_to_solar(y, lunar.month, lunar.day) for y in range(first, last + 1)]
    return [d for d in found if start <= d <= end]


def birthday_in_year(
    year: int,
    *,
    solar: date | None = None,
    lunar: LunarBirthday | None = None,
    leap_day_rule: BirthdayRule = "feb28",
) -> date:
    """The (first) birthday whose solar date lies in Gregorian ``year``.

    Solar birthdays always have exactly one. A lunar birthday in the 11th or 12th lunar month
    can occur twice in one Gregorian year (January and December): the first is returned; or
    skip it (late December before, early January after): that raises
    :class:`NoBirthdayInYearError`. Schedulers should use :func:`birthdays_between`.
    For lunar birthdays the year must be 1901–2099 (January 1900 is still lunar 1899).
    """
    found = birthdays_between(date(year, 1, 1), date(year, 12, 31), solar=solar, lunar=lunar, leap_day_rule=leap_day_rule)
    if not found:
        raise NoBirthdayInYearError(f"lunar birthday {lunar} does not fall in Gregorian year {year}")
    return found[0]


def age_on(born: date, day: date, *, leap_day_rule: BirthdayRule = "feb28") -> int:
    """Age in full Gregorian years (周岁) on ``day``; a 29 Feb birth turns older on 28 Feb in common years."""
    if day < born:
        raise ValueError(f"{day} is before the birth date {born}")
    age = day.year - born.year
    return age if day >= _solar_birthday(day.year, born, leap_day_rule) else age - 1


@dataclass(frozen=True)
class CareOccasion:
    """A greeting day; ``min_age`` limits it to customers of at least that age (周岁), else everyone."""

    key: str
    day: date
    name_zh: str
    name_en: str
    min_age: int | None = None


# (key, lunar month or None for solar, month/day, 中文, English, min_age). No Qingming: no festive greeting.
_OCCASIONS: tuple[tuple[str, bool, int, int, str, str, int | None], ...] = (
    ("new_year", False, 1, 1, "元旦", "New Year's Day", None),
    ("spring_festival", True, 1, 1, "春节", "Spring Festival", None),
    ("lantern", True, 1, 15, "元宵节", "Lantern Festival", None),
    ("dragon_boat", True, 5, 5, "端午节", "Dragon Boat Festival", None),
    ("mid_autumn", True, 8, 15, "中秋节", "Mid-Autumn Festival", None),
    ("national_day", False, 10, 1, "国庆节", "National Day", None),
    # 老年节: statutory Senior Citizens' Day (老年人权益保障法 Art. 12), elderly customers only.
    ("double_ninth", True, 9, 9, "重阳节", "Double Ninth Festival", 60),
)


@lru_cache(maxsize=256)
def _occasions(year: int) -> tuple[CareOccasion, ...]:
    # Lunar 1/1 falls between 21 Jan and 20 Feb, so all these lunar festivals of lunar year
    # ``year`` lie in Gregorian ``year``.
    _check_year(year)
    found = [
        CareOccasion(key, _lunar_to_solar(year, m, d) if lunar else date(year, m, d), zh, en, min_age)
        for key, lunar, m, d, zh, en, min_age in _OCCASIONS
    ]
    return tuple(sorted(found, key=lambda o: o.day))


def holiday_occasions(year: int) -> list[CareOccasion]:
    """The greeting days of Gregorian ``year`` (docs/domain.md §5.2), sorted by date."""
    return list(_occasions(year))


def occasions_on(day: date) -> list[CareOccasion]:
    """The greeting occasions falling on ``day`` (usually none, rarely two)."""
    return [o for o in _occasions(day.year) if o.day == day]


def qingming_day(year: int) -> date:
    """The day of the Qingming solar term (4 or 5 April), Beijing time.

    Uses the classic term formula ``[Y·0.2422 + C] − [Y/4]`` (Y = year mod 100; C = 5.59 in the
    1900s, 4.81 in the 2000s); checked against ``lunar_python``'s astronomical table for every
    year 1900–2099 with no exception.
    """
    _check_year(year)
    y = year % 100
    c = 5.59 if year < 2000 else 4.81
    return date(year, 4, int(y * 0.2422 + c) - y // 4)


def is_qingming(day: date) -> bool:
    """True on Qingming: a day of remembering the dead, when no festive greeting goes out."""
    return day == qingming_day(day.year)

