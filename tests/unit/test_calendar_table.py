"""The bank's calendar table: parsing a notice, loading a year, single days, status, audit and rights."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from engine import audit
from engine.db.calendar import read_bank_table
from engine.db.models import AuditEvent
from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.rules.calendar import BusinessCalendar
from engine.services import calendar

# A made-up notice for 2027 (the real one is not in the libraries): a week off with two shifted Saturdays.
NOTICE = """date,kind,name
# 春节
2027-02-05..2027-02-11, rest, 春节
2027-02-13，班，春节调休上班
2027-02-20, work, 春节调休上班
"""


def test_a_table_parses_ranges_chinese_kinds_comments_and_a_header():
    entries = calendar.parse_table(NOTICE)
    assert [e.day.day for e in entries if not e.workday] == [5, 6, 7, 8, 9, 10, 11]
    assert [(e.day, e.name) for e in entries if e.workday] == [(date(2027, 2, 13), "春节调休上班"),
                                                              (date(2027, 2, 20), "春节调休上班")]


def test_every_bad_line_is_named():
    text = "2027-02-30, rest\n2027-02-05, holiday\n2027-02-06, rest\n2027-02-01..2027-02-06, rest\n2027-03-02\n"
    with pytest.raises(InvalidInputError) as info:
        calendar.parse_table(text)
    lines = info.value.details["lines"]
    assert set(lines) == {"1", "2", "4", "5"}
    assert "not a date" in lines["1"] and "holiday" in lines["2"] and "line 3" in lines["4"]
    with pytest.raises(InvalidInputError, match="empty"):
        calendar.parse_table("# nothing yet\n")


def test_loading_a_year_changes_sla_arithmetic_at_once_and_is_audited(ctx, people):
    root = people["root"]
    friday = date(2027, 2, 12)
    assert ctx.calendar.source(2027) == "estimated"
    assert ctx.calendar.add_workdays(friday, 1) == date(2027, 2, 15)  # estimate: Saturday 13th rests
    status = calendar.import_year(ctx, year=2027, entries=calendar.parse_table(NOTICE), source="国办发明电（示例）",
                                  actor=root)
    assert (status.source, status.table_source, status.rest_days, status.work_days) == ("bank", "国办发明电（示例）", 7, 2)
    assert ctx.calendar.add_workdays(friday, 1) == date(2027, 2, 13)
    assert ctx.calendar.is_workday(date(2027, 10, 4)) is True  # the table is the whole year: only Mon–Fri beyond it
    # Loading the year again replaces its table.
    calendar.import_year(ctx, year=2027, entries=calendar.parse_table("2027-10-01..2027-10-07, rest, 国庆节"),
                         source="second version", actor=root)
    assert ctx.calendar.is_workday(date(2027, 2, 13)) is False and ctx.calendar.is_workday(date(2027, 10, 4)) is False
    assert [d.day.month for d in calendar.list_days(ctx, 2027)] == [10] * 7
    with ctx.sessions() as session:
        assert audit.verify_stream(session, "calendar:2027").ok
        events = session.execute(select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
                                 .where(AuditEvent.stream == "calendar:2027").order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["calendar.year_loaded", "calendar.year_loaded"]
    assert events[1].before == {"source": "国办发明电（示例）"} and events[1].after["rest_days"] == 7
    calendar.remove_year(ctx, year=2027, actor=root)
    assert ctx.calendar.source(2027) == "estimated" and calendar.list_days(ctx, 2027) == []
    with pytest.raises(NotFoundError):
        calendar.remove_year(ctx, year=2027, actor=root)


def test_a_table_is_refused_whole_when_a_day_is_wrong(ctx, people):
    root = people["root"]
    with pytest.raises(InvalidInputError, match="Saturday or a Sunday") as info:
        calendar.import_year(ctx, year=2027, entries=calendar.parse_table("2027-02-12, work\n2027-02-13, work"),
                             source="n", actor=root)
    assert info.value.details == {"days": ["2027-02-12"]}
    with pytest.raises(InvalidInputError, match="another year"):
        calendar.import_year(ctx, year=2028, entries=calendar.parse_table(NOTICE), source="n", actor=root)
    with pytest.raises(InvalidInputError, match="notice"):
        calendar.import_year(ctx, year=2027, entries=calendar.parse_table(NOTICE), source=" ", actor=root)
    assert calendar.list_days(ctx, 2027) == [] and ctx.calendar.source(2027) == "estimated"


def test_single_days_win_and_must_be_removed_before_a_table_covers_them(ctx, people):
    root = people["root"]
    typhoon = date(2027, 2, 9)
    calendar.set_day(ctx, day=typhoon, workday=False, name="台风停业", actor=root)
    assert ctx.calendar.add_workdays(date(2027, 2, 4), 1) == date(2027, 2, 11)  # 02-05..10 estimated, 09 set
    with pytest.raises(ConflictError) as info:
        calendar.import_year(ctx, year=2027, entries=calendar.parse_table(NOTICE), source="n", actor=root)
    assert info.value.details == {"days": ["2027-02-09"]}
    calendar.remove_day(ctx, day=typhoon, actor=root)
    calendar.import_year(ctx, year=2027, entries=calendar.parse_table(NOTICE), source="n", actor=root)
    # A single change after the table wins over it, until removed.
    calendar.set_day(ctx, day=date(2027, 2, 20), workday=False, name="分行决定", actor=root)
    assert ctx.calendar.is_workday(date(2027, 2, 20)) is False
    [day] = [d for d in calendar.list_days(ctx, 2027) if d.day == date(2027, 2, 20)]
    assert (day.in_year_table, day.name, day.created_by) == (False, "分行决定", "root")
    with pytest.raises(NotFoundError):
        calendar.remove_day(ctx, day=date(2027, 3, 1), actor=root)


def test_only_admins_change_the_calendar(ctx, people):
    entries = calendar.parse_table(NOTICE)
    for name in ("alice", "sam", "dora"):
        with pytest.raises(PermissionDeniedError):
            calendar.import_year(ctx, year=2027, entries=entries, source="n", actor=people[name])
        with pytest.raises(PermissionDeniedError):
            calendar.set_day(ctx, day=date(2027, 1, 4), workday=False, name="", actor=people[name])
    assert calendar.list_days(ctx, 2027) == []


def test_status_asks_for_next_years_table_in_time(ctx, people, clock):
    clock.set(datetime(2026, 10, 1, 2, 0, tzinfo=UTC))
    status = calendar.calendar_status(ctx)
    assert [(y.year, y.source) for y in status.years] == [(2026, "official"), (2027, "estimated")]
    assert status.attention == ()  # 2027 starts more than 60 days later
    clock.set(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    assert calendar.calendar_status(ctx).attention == (2027,)
    calendar.import_year(ctx, year=2027, entries=calendar.parse_table(NOTICE), source="n", actor=people["root"])
    assert calendar.calendar_status(ctx).attention == ()


def test_another_process_sees_the_table_after_its_refresh_interval(ctx, people):
    now = [0.0]
    other = BusinessCalendar(loader=lambda: read_bank_table(ctx.db), max_age=30, monotonic=lambda: now[0])
    assert other.is_workday(date(2027, 2, 13)) is False
    calendar.import_year(ctx, year=2027, entries=calendar.parse_table(NOTICE), source="n", actor=people["root"])
    assert other.is_workday(date(2027, 2, 13)) is False
    now[0] = 30.0
    assert other.is_workday(date(2027, 2, 13)) is True
