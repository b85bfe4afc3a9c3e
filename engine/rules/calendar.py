"""Business calendar: Chinese working days with the official 调休 swaps, and legal deadlines.

Working days come from ``chinese_calendar`` (the State Council's yearly notice, shifted
working weekends included). The library only knows the years it was released for, so a
date outside them is an error (:class:`CalendarOutOfRangeError`) unless the bank supplied
overrides for it or chose the ``weekends`` fallback, which logs a warning on every use:
a wrong SLA or regulatory date must never be silent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Literal

import chinese_calendar

from engine.errors import EngineError

log = logging.getLogger(__name__)
Fallback = Literal["error", "weekends"]


class CalendarOutOfRangeError(EngineError):
    """The calendar has no official data for this date's year (and no override or fallback)."""

    code = "calendar_out_of_range"


class BusinessCalendar:
    """Working days for one jurisdiction; ``overrides`` maps a date to True (work) or False (rest)."""

    def __init__(self, overrides: Mapping[date, bool] | None = None, *, fallback: Fallback = "error") -> None:
        self.overrides = dict(overrides or {})
        self.fallback = fallback

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError as exc:
            if self.fallback == "weekends":
                log.warning("no official calendar for %s: counting Monday–Friday as working days", day.year)
                return day.weekday() < 5
            raise CalendarOutOfRangeError(
                f"no official working-day data for {day.year}: update chinesecalendar or add overrides",
                details={"year": day.year},
            ) from exc

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
