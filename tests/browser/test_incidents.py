"""The incident flow in a real browser: a step fails, the supervisor sees why, corrects the data and retries; another
incident is terminated for good after a confirmation. Screenshots of the desk (desktop and phone width) are kept in
test-artifacts/screenshots/ for the trust issue's closing note."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.services import instances
from engine.views import SYSTEM
from tests.browser.conftest import SCREENSHOTS
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks

PROCESS = "fee_split"


def _failing(ctx, business_key: str):
    """An instance whose script divides by a variable the caller set to 0: it stops in `error` at that step."""
    started = instances.start_instance(ctx, process_key=PROCESS, actor=SYSTEM, business_key=business_key,
                                       variables={"months": 0})
    assert started.status == "error"
    return started


def _row(page: Page, instance_id: str):
    return page.locator(f"#failed tr[data-incident='{instance_id}']")


def test_a_supervisor_corrects_one_incident_and_terminates_another(page, login, live_server, ctx, people):
    deploy(ctx, (f"{PROCESS}.bpmn", b.linear(PROCESS, b.script_task("split", "per_month = 1200 / months"),
                                             b.user_task("review"), name="年费分期")))
    fixed, doomed = _failing(ctx, "FEE-1"), _failing(ctx, "FEE-2")

    login("sam")
    page.goto(f"{live_server}/supervisor")
    row = _row(page, fixed.id)
    expect(row).to_contain_text("年费分期")  # the process by its name, not its key
    expect(row).to_contain_text("FEE-1")
    expect(row).to_contain_text("split")
    expect(row).to_contain_text("ZeroDivisionError")
    expect(page.locator("#failed th", has_text="失败原因")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "incident_desk.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SCREENSHOTS / "incident_desk_phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Correct and retry: a patch that is not a JSON object is refused on the page and changes nothing.
    row.locator("details", has_text="修正数据").locator("summary").click()
    row.locator("textarea[name=patch]").fill("months = 12")
    row.locator(f"#patch-{fixed.id}").click()
    expect(page.locator(".flash-error")).to_contain_text("JSON")
    assert instances.get_instance(ctx, fixed.id, actor=SYSTEM).status == "error"

    row = _row(page, fixed.id)
    row.locator("details", has_text="修正数据").locator("summary").click()
    row.locator("textarea[name=patch]").fill('{"months": 12}')
    row.locator(f"#patch-{fixed.id}").click()
    expect(_row(page, fixed.id)).to_have_count(0)
    repaired = instances.get_instance(ctx, fixed.id, actor=SYSTEM)
    assert repaired.status == "running"
    assert [t.task_name for t in open_tasks(ctx, fixed.id)] == ["review"]

    # Terminate: the browser asks first; saying no leaves the incident where it is.
    row = _row(page, doomed.id)
    row.locator("details", has_text="终止").locator("summary").click()
    row.locator("input[name=reason]").fill("客户已销户，不再收取年费")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator(f"#terminate-{doomed.id}").click()
    expect(_row(page, doomed.id)).to_have_count(1)
    assert instances.get_instance(ctx, doomed.id, actor=SYSTEM).status == "error"

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator(f"#terminate-{doomed.id}").click()
    expect(_row(page, doomed.id)).to_have_count(0)
    assert instances.get_instance(ctx, doomed.id, actor=SYSTEM).status in {"cancelled", "terminated"}
