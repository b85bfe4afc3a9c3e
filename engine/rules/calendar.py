"""Business calendar: working days for SLAs and legal deadlines, with the official 调休 swaps.

Where a day's answer comes from, first match wins:

1. the bank's own table (``BankTable.days``): a single day the bank set (a typhoon closure), or a day of a
   year's table it supplied, e.g. the State Council notice for a year the libraries do not know yet;
2. a year whose complete table the bank supplied (``BankTable.years``): a day it does not list is a working day
   from Monday to Friday;
3. the official data of the country's library: ``chinese_calendar`` for China (the State Council's yearly notice,
   shifted working weekends included), ``holidays`` for any other country code (its public holidays, Mon–Fri);
4. for a Chinese year neither knows, the fallback: ``estimate`` counts Monday to Friday minus the statutory
   holidays computed by ``holidays`` (全国年节及纪念日放假办法, made up on a working day when they fall on a
   weekend, Art. 6; no 调休 swaps, which only the yearly notice sets) and logs a warning once per year; ``error``
   raises :class:`CalendarOutOfRangeError`. A wrong SLA or regulatory date must never be silent: :meth:`source`
   tells which years are estimated (the admin calendar page, the supervisor desk and ``careflow calendar status``
   show it).

The bank's table lives in the database; ``loader`` reads it again at most every ``max_age`` seconds, so a table
uploaded through one worker reaches the others within that time (and this process at once: :meth:`invalidate`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal, cast

import chinese_calendar

from engine.errors import EngineError

log = logging.getLogger(__name__)
Fallback = Literal["estimate", "error"]
FALLBACKS: tuple[Fallback, ...] = ("estimate", "error")
# Where a year's working days come from, as shown to people: the bank's table, a library's official data, the
# statutory estimate, or nothing (fallback "error").
Source = Literal["bank", "official", "estimated", "missing"]


class CalendarOutOfRangeError(EngineError):
    """The calendar has no official data for this date's year (and no bank table or fallback)."""

    code = "calendar_out_of_range"


@dataclass(frozen=True)
class BankTable:
    """The bank's own calendar: ``days`` maps a date to True (work) or False (rest); ``years`` are the years whose
    complete table the bank supplied."""

    days: Mapping[date, bool] = field(default_factory=dict)
    years: frozenset[int] = frozenset()


# ``holidays`` is imported where it is used: importing it costs about 120 ms, and a Chinese calendar needs it
# only for a year chinese_calendar does not know.


@lru_cache(maxsize=64)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=year))


def official_years(country: str = "CN") -> range:
    """The years the country's library has official data for."""
    if country == "CN":
        known = [d.year for d in chinese_calendar.holidays] + [d.year for d in chinese_calendar.workdays]
        return range(min(known), max(known) + 1)
    import holidays

    cls = holidays.country_holidays(country).__class__
    return range(cls.start_year, cls.end_year + 1)


def known_countries() -> frozenset[str]:
    import holidays

    return frozenset(holidays.list_supported_countries())


class BusinessCalendar:
    """Working days for one country (``CN`` by default, else any country code the ``holidays`` library knows)."""

    def __init__(self, overrides: Mapping[date, bool] | None = None, *, country: str = "CN",
                 fallback: str = "estimate", loader: Callable[[], BankTable] | None = None,
                 max_age: float = 30.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if country != "CN" and country not in known_countries():
            raise ValueError(f"unknown calendar country {country!r}")
        if fallback not in FALLBACKS:
            raise ValueError(f"calendar fallback must be one of {', '.join(FALLBACKS)}")
        self.country = country
        self.fallback = cast(Fallback, fallback)
        self._official = official_years(country)
        self._table = BankTable(dict(overrides or {}))
        self._loader = loader
        self._max_age = max_age
        self._monotonic = monotonic
        self._expires = float("-inf")
        self._lock = threading.Lock()
        self._warned: set[int] = set()

    # -- the bank's table ------------------------------------------------------------------------------------------

    @property
    def table(self) -> BankTable:
        """The bank's table, read again through ``loader`` when older than ``max_age`` seconds."""
        if self._loader is not None and self._monotonic() >= self._expires:
            with self._lock:
                if self._monotonic() >= self._expires:
                    try:
                        self._table = self._loader()
                    except Exception:  # keep the last table; the reason is in the log
                        log.exception("could not read the bank's calendar table; using the last one read")
                    self._expires = self._monotonic() + self._max_age
        return self._table

    def invalidate(self) -> None:
        """Read the bank's table again on next use (this process changed it)."""
        self._expires = float("-inf")

    # -- which days work -------------------------------------------------------------------------------------------

    def source(self, year: int) -> Source:
        """Where the working days of ``year`` come from."""
        if year in self.table.years:
            return "bank"
        if year in self._official:
            return "official"
        return "estimated" if self.fallback == "estimate" else "missing"

    def is_workday(self, day: date) -> bool:
        table = self.table
        if day in table.days:
            return table.days[day]
        if day.year in table.years:
            return day.weekday() < 5
        if self.country != "CN":
            return day.weekday() < 5 and day not in _public_holidays(self.country, day.year)
        if day.year in self._official:
            return bool(chinese_calendar.is_workday(day))
        if self.fallback == "estimate":
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("no official working-day data for %s: estimating from the statutory holidays, without "
                            "调休 swaps; load the year's notice with `careflow calendar import`", day.year)
            return day.weekday() < 5 and day not in _public_holidays("CN", day.year)
        raise CalendarOutOfRangeError(
            f"no official working-day data for {day.year}: load the year's table (careflow calendar import) "
            "or update chinesecalendar",
            details={"year": day.year},
        )

    def next_workday(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first working day after it."""
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day

    def add_workdays(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (the start day is not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = start
        while count:
            day += timedelta(days=1)
            count -= self.is_workday(day)
        return day

    def add_workdays_at(self, start: datetime, count: int) -> datetime:
        """Same clock time ``count`` working days later, in ``start``'s own time zone (SLA due times)."""
        return datetime.combine(self.add_workdays(start.date(), count), start.timetz())

    def legal_deadline(self, received: date, days: int) -> date:
        """The last day of a period of ``days`` calendar days (民法典 Art. 201 and 203).

        The day of receipt is not counted; if the last day is a rest day, the period ends
        on the next working day. For an internal target use ``received + days`` unshifted.
        """
        return self.next_workday(received + timedelta(days=days))
