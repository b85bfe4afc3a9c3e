"""The bank's business calendar: load a year's official table, set single days, see which years are estimated.

The libraries carry the State Council's 调休 notice only for the years they were released for; each year's notice
comes out around November. Until a release carries it, an administrator loads the notice here (``careflow calendar
import`` or the admin calendar page) and SLA and deadline arithmetic uses it at once (engine.rules.calendar). Every
change is audited on the stream ``calendar:<year>``.

A table is text, one line per day or range of days (``#`` starts a comment; a ``date,kind,name`` header is allowed)::

    2027-02-05..2027-02-11, rest, 春节
    2027-02-13, work, 春节调休上班

``kind`` is ``rest`` (or 休) or ``work`` (or 班); a working day in a table must be a Saturday or a Sunday (a shifted
working weekend: other days work anyway).
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.calendar import CalendarDay, CalendarYear
from engine.db.session import unit_of_work
from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.rules.calendar import Source
from engine.services.authz import require_role
from engine.views import Actor

log = logging.getLogger(__name__)
KINDS = {"rest": False, "休": False, "work": True, "班": True}
MAX_RANGE_DAYS = 31
ATTENTION_DAYS = 60  # a year that starts within this many days and is only estimated needs its table


@dataclass(frozen=True)
class CalendarEntry:
    day: date
    workday: bool
    name: str = ""


@dataclass(frozen=True)
class CalendarDayView:
    day: date
    workday: bool
    name: str
    in_year_table: bool
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class YearStatus:
    year: int
    source: Source
    table_source: str | None  # the notice the bank's table cites
    rest_days: int  # days of the bank's table (year table and single changes)
    work_days: int


@dataclass(frozen=True)
class CalendarStatus:
    country: str
    fallback: str
    years: tuple[YearStatus, ...]
    attention: tuple[int, ...]  # years within ATTENTION_DAYS whose working days are estimated or missing


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a date (YYYY-MM-DD)") from None


def _parse_line(fields: list[str]) -> list[CalendarEntry]:
    if len(fields) < 2:
        raise ValueError("write the date (or first..last), the kind (rest or work) and a name")
    first_text, _, last_text = fields[0].partition("..")
    first = _parse_day(first_text)
    last = _parse_day(last_text) if last_text else first
    if last < first or (last - first).days >= MAX_RANGE_DAYS:
        raise ValueError(f"a range runs forwards and spans at most {MAX_RANGE_DAYS} days")
    kind = fields[1].strip().lower()
    if kind not in KINDS:
        raise ValueError(f"kind {fields[1].strip()!r} is not rest, work, 休 or 班")
    name = ",".join(fields[2:]).strip()[:100]
    return [CalendarEntry(first + timedelta(days=i), KINDS[kind], name) for i in range((last - first).days + 1)]


def parse_table(text: str) -> list[CalendarEntry]:
    """The entries of a table (see the module text). Raises InvalidInputError with every bad line's number."""
    entries: list[CalendarEntry] = []
    problems: dict[str, str] = {}
    seen: dict[date, int] = {}
    for number, fields in enumerate(csv.reader(io.StringIO(text.replace("，", ","))), start=1):
        if not fields or not "".join(fields).strip() or fields[0].lstrip().startswith("#"):
            continue
        if number == 1 and fields[0].strip().lower() == "date":
            continue
        try:
            for entry in _parse_line(fields):
                if entry.day in seen:
                    raise ValueError(f"{entry.day} is already on line {seen[entry.day]}")
                seen[entry.day] = number
                entries.append(entry)
        except ValueError as exc:
            problems[str(number)] = str(exc)
    if problems:
        raise InvalidInputError("the calendar table has errors", details={"lines": problems})
    if not entries:
        raise InvalidInputError("the calendar table is empty")
    return entries


def _in_year(year: int) -> ColumnElement[bool]:
    return CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31))


def _delete_year_table(session: Session, year: int) -> None:
    session.execute(delete(CalendarDay).where(CalendarDay.in_year_table.is_(True), _in_year(year)))


def _audit(session: Session, actor: Actor, day_or_year: date | int, action: str, at: datetime, *,
           before: dict[str, Any] | None = None, **after: Any) -> None:
    year = day_or_year if isinstance(day_or_year, int) else day_or_year.year
    subject = str(day_or_year) if isinstance(day_or_year, int) else day_or_year.isoformat()
    audit.append(session, stream=f"calendar:{year}", actor=actor.username, action=action, subject_type="calendar",
                 subject_id=subject, at=at, before=before, after=after)


def import_year(ctx: EngineContext, *, year: int, entries: list[CalendarEntry], source: str, actor: Actor) -> YearStatus:
    """Load ``year``'s complete table (replacing the one loaded before); a day it does not list works Monday to
    Friday. Admins only. A day already set on its own (set_day) must be removed first: ConflictError."""
    require_role(actor, "admin")
    source = source.strip()
    if not source or len(source) > 300:
        raise InvalidInputError("name the notice the table comes from (at most 300 characters)")
    outside = sorted({e.day.isoformat() for e in entries if e.day.year != year})
    if outside:
        raise InvalidInputError(f"the table for {year} holds days of another year", details={"days": outside})
    weekdays = sorted(e.day.isoformat() for e in entries if e.workday and e.day.weekday() < 5)
    if weekdays:
        raise InvalidInputError("a shifted working day must be a Saturday or a Sunday", details={"days": weekdays})
    if not entries:
        raise InvalidInputError("the calendar table is empty")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        days = {e.day for e in entries}
        single = sorted(d.isoformat() for d in session.scalars(select(CalendarDay.day).where(
            CalendarDay.day.in_(days), CalendarDay.in_year_table.is_(False))))
        if single:
            raise ConflictError("these days were set on their own; remove them first", details={"days": single})
        previous = session.get(CalendarYear, year)
        before = {"source": previous.source} if previous else None
        _delete_year_table(session, year)
        session.add_all(CalendarDay(day=e.day, workday=e.workday, name=e.name, in_year_table=True,
                                    created_by=actor.username, created_at=now) for e in entries)
        if previous is None:
            session.add(CalendarYear(year=year, source=source, created_by=actor.username, created_at=now))
        else:
            previous.source, previous.created_by, previous.created_at = source, actor.username, now
        rest = sum(not e.workday for e in entries)
        _audit(session, actor, year, "calendar.year_loaded", now, before=before, source=source, rest_days=rest,
               work_days=len(entries) - rest)
    ctx.calendar.invalidate()
    return year_status(ctx, year)


def remove_year(ctx: EngineContext, *, year: int, actor: Actor) -> None:
    """Withdraw ``year``'s table (single days stay). Admins only; NotFoundError when none was loaded."""
    require_role(actor, "admin")
    with unit_of_work(ctx.sessions) as session:
        loaded = session.get(CalendarYear, year)
        if loaded is None:
            raise NotFoundError(f"no calendar table was loaded for {year}")
        _delete_year_table(session, year)
        session.delete(loaded)
        _audit(session, actor, year, "calendar.year_removed", ctx.clock.now(), before={"source": loaded.source})
    ctx.calendar.invalidate()


def set_day(ctx: EngineContext, *, day: date, workday: bool, name: str, actor: Actor) -> CalendarDayView:
    """Make one day a working or a rest day (a typhoon closure, a branch's local holiday). Admins only."""
    require_role(actor, "admin")
    name = name.strip()[:100]
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(CalendarDay, day)
        before = {"workday": row.workday, "name": row.name} if row else None
        if row is None:
            row = CalendarDay(day=day)
            session.add(row)
        row.workday, row.name, row.in_year_table, row.created_by, row.created_at = workday, name, False, actor.username, now
        _audit(session, actor, day, "calendar.day_set", now, before=before, workday=workday, name=name)
        view = _view(row)
    ctx.calendar.invalidate()
    return view


def remove_day(ctx: EngineContext, *, day: date, actor: Actor) -> None:
    """Take a day out of the bank's table (the library or the year's rule applies again). Admins only."""
    require_role(actor, "admin")
    with unit_of_work(ctx.sessions) as session:
        row = session.get(CalendarDay, day)
        if row is None:
            raise NotFoundError(f"{day} is not in the bank's calendar table")
        session.delete(row)
        _audit(session, actor, day, "calendar.day_removed", ctx.clock.now(),
               before={"workday": row.workday, "name": row.name})
    ctx.calendar.invalidate()


def _view(row: CalendarDay) -> CalendarDayView:
    return CalendarDayView(row.day, row.workday, row.name, row.in_year_table, row.created_by, row.created_at)


def list_days(ctx: EngineContext, year: int) -> list[CalendarDayView]:
    """The bank's table for ``year``, by date."""
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(select(CalendarDay).where(_in_year(year)).order_by(CalendarDay.day))
        return [_view(row) for row in rows]


def year_status(ctx: EngineContext, year: int) -> YearStatus:
    with unit_of_work(ctx.sessions, write=False) as session:
        return _year_status(ctx, session, year)


def _year_status(ctx: EngineContext, session: Session, year: int) -> YearStatus:
    loaded = session.get(CalendarYear, year)
    workdays = list(session.scalars(select(CalendarDay.workday).where(_in_year(year))))
    return YearStatus(year, ctx.calendar.source(year), loaded.source if loaded else None,
                      workdays.count(False), workdays.count(True))


def attention(ctx: EngineContext, today: date | None = None) -> tuple[int, ...]:
    """The years starting within ATTENTION_DAYS of ``today`` (default: the bank's today) whose working days are
    estimated or missing. From the calendar in memory: no query (the supervisor desk asks on every visit)."""
    today = today or ctx.clock.now().astimezone(ctx.settings.zone).date()
    soon = (today + timedelta(days=ATTENTION_DAYS)).year
    return tuple(year for year in range(today.year, soon + 1) if ctx.calendar.source(year) in ("estimated", "missing"))


def calendar_status(ctx: EngineContext, today: date | None = None) -> CalendarStatus:
    """This year and the next (from ``today``, default the bank's today): where their working days come from, and
    which need the bank's table soon."""
    today = today or ctx.clock.now().astimezone(ctx.settings.zone).date()
    with unit_of_work(ctx.sessions, write=False) as session:
        years = tuple(_year_status(ctx, session, year) for year in (today.year, today.year + 1))
    return CalendarStatus(ctx.calendar.country, ctx.calendar.fallback, years, attention(ctx, today))


def check_coverage(ctx: EngineContext, day: date) -> tuple[int, int]:
    """The daily scan's check (engine.care.scans): an error in the log for each year that needs its table soon.
    Returns (years needing a table, 0)."""
    years = attention(ctx, day)
    for year in years:
        log.error("the business calendar has no official working-day data for %s (it is %s): SLA and deadline "
                  "dates there are %s; load the State Council notice with `careflow calendar import %s`",
                  year, day.isoformat(), "estimated" if ctx.calendar.fallback == "estimate" else "failing", year)
    return len(years), 0
