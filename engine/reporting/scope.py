"""What a dashboard query covers: a bank-local period and the filters, resolved to SQL conditions.

A ``Scope`` is already role-checked and resolved by ``engine.reporting.service``: a team became the
usernames of its members, a customer manager's own view became ``managers=(their name,)``. Two kinds
of filter exist because the KPIs hang off two things:

- customer-anchored KPIs (complaints, leads, revisits, care, scorecards) count the customers whose
  ``branch``/``tier`` match and whose ``manager`` is one of ``managers``;
- work KPIs (open and overdue tasks, handling time) count the tasks whose ``assignee`` is one of
  ``assignees``.

Dates are the bank's calendar days (``settings.zone``); the period is ``start``..``end`` inclusive,
i.e. the UTC instants ``[start 00:00 local, end + 1 day 00:00 local)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, cast, func
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.customers.models import Customer


@dataclass(frozen=True)
class Scope:
    start: date
    end: date  # inclusive
    zone: ZoneInfo
    now: datetime
    branch: str | None = None
    tier: str | None = None
    managers: tuple[str, ...] | None = None  # None: every customer manager
    assignees: tuple[str, ...] | None = None  # None: everybody's work

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(), self.zone).astimezone(UTC)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time(), self.zone).astimezone(UTC)

    @property
    def by_customer(self) -> bool:
        """Whether customer-anchored queries must join ``customer`` (some customer filter is set)."""
        return self.branch is not None or self.tier is not None or self.managers is not None

    def customer_conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.branch is not None:
            conditions.append(Customer.branch == self.branch)
        if self.tier is not None:
            conditions.append(Customer.tier == self.tier)
        if self.managers is not None:
            conditions.append(Customer.manager.in_(self.managers))
        return conditions

    def in_period(self, column: Any) -> list[ColumnElement[bool]]:
        return [column >= self.start_at, column < self.end_at]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


class Sql:
    """Dialect-specific expressions: bank-local dates and months of UTC timestamps, durations in seconds.

    SQLite stores naive UTC text, so the bank's offset is applied as a date modifier (the zone's
    offset now: Asia/Shanghai has had no daylight saving since 1991); PostgreSQL converts with the
    zone's name.
    """

    def __init__(self, session: Session, scope: Scope) -> None:
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        self.zone = scope.zone
        offset = scope.now.astimezone(scope.zone).utcoffset() or timedelta(0)
        self.modifier = f"{int(offset.total_seconds()) // 60:+d} minutes"

    def local_date(self, column: Any) -> Any:
        if self.sqlite:
            return func.date(column, self.modifier)
        return cast(func.timezone(self.zone.key, column), Date)

    def days_between(self, later: Any, earlier: Any) -> Any:
        """Calendar days from the bank-local date of ``earlier`` to that of ``later``."""
        if self.sqlite:
            return func.julianday(self.local_date(later)) - func.julianday(self.local_date(earlier))
        return self.local_date(later) - self.local_date(earlier)

    def local_month(self, column: Any) -> Any:
        """``YYYY-MM`` of the bank-local date."""
        if self.sqlite:
            return func.strftime("%Y-%m", column, self.modifier)
        return func.to_char(func.timezone(self.zone.key, column), "YYYY-MM")

    def seconds(self, later: Any, earlier: Any) -> Any:
        if self.sqlite:
            return (func.julianday(later) - func.julianday(earlier)) * 86400.0
        return func.extract("epoch", later - earlier)
