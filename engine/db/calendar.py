"""The bank's own business calendar (engine.rules.calendar): days it set, and years whose whole table it supplied."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Engine, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from engine.db.base import Base
from engine.rules.calendar import BankTable


class CalendarDay(Base):
    """A working day (``workday``) or a rest day the bank set, over what the calendar library says.

    ``in_year_table``: part of a year's table (replaced when that year's table is loaded again), else a single
    change such as a typhoon closure."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100), default="")
    in_year_table: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class CalendarYear(Base):
    """A year whose complete table the bank supplied: a day not in ``calendar_day`` works Monday to Friday."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


def read_bank_table(db: Engine) -> BankTable:
    """The whole table, straight from the database (a few dozen rows a year)."""
    with db.connect() as conn:
        days = {day: bool(workday) for day, workday in conn.execute(select(CalendarDay.day, CalendarDay.workday))}
        years = frozenset(conn.scalars(select(CalendarYear.year)))
    return BankTable(days, years)
