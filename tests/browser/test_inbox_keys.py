"""The inbox by keyboard in a real browser: j/k move, c claims from the list, / searches, Enter opens; the bell
and the list follow work assigned meanwhile without a reload; the same page at phone width."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from engine.services import instances, tasks
from engine.views import SYSTEM
from tests.browser.conftest import SCREENSHOTS
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


def _queue(ctx, clock, n):
    deploy(ctx, ("plain.bpmn", b.linear("plain", b.user_task("call", "回电 Call back", candidateGroups="service_team"),
                                        name="电话回访 Call back")))
    made = []
    for _ in range(n):
        started = instances.start_instance(ctx, process_key="plain", actor=SYSTEM)
        made.extend(t.id for t in open_tasks(ctx, started.id))
        clock.advance(timedelta(minutes=1))
    return made


def test_keyboard_claim_from_the_list_and_the_live_bell(page, login, live_server, ctx, clock, people):
    made = _queue(ctx, clock, 4)
    page.add_init_script("window.CAREFLOW_POLL_MS = 300")
    login("alice")
    page.goto(f"{live_server}/inbox?view=queue")
    rows = page.locator("#task-list tr[data-task]")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("电话回访")
    expect(page.locator("#bell-count")).to_have_text("0")
    page.locator("body").press("j")
    expect(rows.nth(0)).to_have_class("table-active")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class("table-active")
    expect(rows.nth(1).locator("a.task-link")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("c")  # claim the second task, from the list
    expect(page.locator(".flash")).to_contain_text("已领取")
    expect(rows).to_have_count(3)
    assert page.url.endswith("/inbox?view=queue")
    assert tasks.get_task(ctx, made[1], actor=people["alice"]).assignee == "alice"
    # Work given to alice meanwhile: the bell and the list follow without a reload.
    tasks.assign_task(ctx, made[3], actor=people["sam"], assignee="alice")
    expect(page.locator("#bell-count")).to_have_text("1")
    expect(rows).to_have_count(2)
    expect(page.locator('nav.tabs a[data-view="mine"] .badge')).to_have_text("2")
    page.keyboard.press("/")
    expect(page.locator("#global-search")).to_be_focused()  # "/" is the global search on every staff page
    page.keyboard.press("Escape")
    page.locator("#global-search").blur()
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/inbox/tasks/" in page.url
    page.goto(f"{live_server}/inbox?view=mine")
    page.screenshot(path=str(SCREENSHOTS / "inbox_keys_desktop.png"), full_page=True)
    page.click("#bell")
    expect(page.locator("#notifications li[data-kind=task_assigned]")).to_have_count(1)
    with page.expect_navigation():
        page.click("#notifications li[data-kind=task_assigned] button")
    assert page.url.endswith(f"/inbox/tasks/{made[3]}")
    expect(page.locator("#bell-count")).to_have_text("0")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/inbox?view=queue")
    expect(page.locator("#claim-next")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "inbox_keys_phone.png"), full_page=True)
    with page.expect_navigation():
        page.click("#claim-next")
    assert "/inbox/tasks/" in page.url


def test_the_supervisor_desk_follows_new_work_without_a_reload(page, login, live_server, ctx, clock, people):
    _queue(ctx, clock, 1)
    page.add_init_script("window.CAREFLOW_POLL_MS = 300")
    login("sam")
    page.goto(f"{live_server}/supervisor")
    queue_row = page.locator("#workload tr", has_text="队列中")
    expect(queue_row.locator("td").nth(1)).to_have_text("1")
    page.evaluate("window.__sameDocument = true")
    instances.start_instance(ctx, process_key="plain", actor=SYSTEM)
    expect(queue_row.locator("td").nth(1)).to_have_text("2")
    assert page.evaluate("window.__sameDocument") is True  # redrawn in place, not reloaded
    page.screenshot(path=str(SCREENSHOTS / "supervisor_desk_live.png"), full_page=True)
