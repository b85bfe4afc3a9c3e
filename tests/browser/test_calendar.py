"""An administrator loads next year's 调休 notice on the calendar page, in a real browser."""

from __future__ import annotations

from datetime import UTC, date, datetime

from playwright.sync_api import expect

from engine.services import calendar


def test_admin_loads_next_years_notice_after_one_bad_line(page, login, live_server, ctx, clock):
    clock.set(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    login("root")
    page.click("#nav-calendar")
    expect(page.locator("#calendar-attention")).to_contain_text("2027 年尚无官方工作日安排")
    expect(page.locator('tr[data-year="2027"]')).to_contain_text("估算：仅法定节假日，未含调休")

    page.fill("#cal-source", "国务院办公厅关于2027年部分节假日安排的通知（示例）")
    page.fill("#cal-table", "2027-02-05..2027-02-11, 休, 春节\n2027-02-12, 班, 调休上班")
    page.click("#calendar-import button[type=submit]")
    expect(page.locator("p.flash")).to_contain_text("2027-02-12")  # a Friday: refused whole, nothing stored
    assert calendar.list_days(ctx, 2027) == []

    page.fill("#cal-source", "国务院办公厅关于2027年部分节假日安排的通知（示例）")
    page.fill("#cal-table", "2027-02-05..2027-02-11, 休, 春节\n2027-02-13, 班, 调休上班")
    page.click("#calendar-import button[type=submit]")
    expect(page.locator("p.flash")).to_have_text("已导入 2027 年：休息日 7 天，调休上班日 1 天")
    expect(page.locator('tr[data-year="2027"]')).to_contain_text("本行日历表")
    expect(page.locator("#calendar-attention")).to_have_count(0)
    expect(page.locator('tr[data-day="2027-02-13"]')).to_contain_text("工作日")
    assert ctx.calendar.add_workdays(date(2027, 2, 12), 1) == date(2027, 2, 13)
