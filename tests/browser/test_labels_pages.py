"""The pages with labels, formatted numbers, error pages and confirmations, in a real browser, both languages.

Screenshots land in test-artifacts/screenshots/labels_<page>_<lang>.png for a person to look at.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS
from web.demo import DEMO_PASSWORD, load


def _sign_in(page: Page, live_server: str, username: str) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")


def test_labelled_pages_in_both_languages(page: Page, live_server: str, ctx) -> None:
    list(load(ctx))
    _sign_in(page, live_server, "wang.fang")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for lang in ("zh", "en"):
        page.goto(f"{live_server}/lang/{lang}?next=/inbox?view=all")
        expect(page.locator("#task-list")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"labels_inbox_{lang}.png"), full_page=True)
        header = page.locator("header").inner_text()
        assert ("主管" if lang == "zh" else "Supervisor") in header and "supervisor" not in header
        page.locator("#task-list a").first.click()
        expect(page.locator("#task-status")).to_be_visible()
        assert page.locator("#task-status").inner_text() not in ("open", "claimed")
        page.screenshot(path=str(SCREENSHOTS / f"labels_task_{lang}.png"), full_page=True)
        for name, url in (("supervisor", "/supervisor"), ("complaints", "/complaints"),
                          ("scorecards", "/reports/scorecards"), ("reports", "/reports"),
                          ("customer", "/customers/C0001"), ("not_found", "/inbox/tasks/nope")):
            page.goto(f"{live_server}{url}")
            page.screenshot(path=str(SCREENSHOTS / f"labels_{name}_{lang}.png"), full_page=True)
        expect(page.locator("#error-page")).to_be_visible()
        assert page.locator("nav.top").count() == 1  # inside the app's frame
    page.goto(f"{live_server}/reports/scorecards?lang=zh")
    table = page.locator("#table-scorecards").inner_text()
    assert not re.search(r"\d{7,}\.\d\d|0\.\d{4}", table)  # no 115958304.60, no 0.0267


def test_a_double_claim_is_a_message_on_the_task_page(page: Page, live_server: str, ctx) -> None:
    list(load(ctx))
    _sign_in(page, live_server, "zhang.wei")
    page.goto(f"{live_server}/inbox?view=queue")
    page.locator("#task-list a").first.click()
    task_url = page.url
    page.click("#action-claim")
    expect(page.locator("p.flash-success")).to_be_visible()
    success = page.locator("p.flash-success").evaluate("p => getComputedStyle(p).backgroundColor")
    page.screenshot(path=str(SCREENSHOTS / "labels_claimed_success.png"), full_page=True)
    page.fill("input[name=to]", "nobody.here")
    page.click("#action-delegate")
    assert page.url == task_url
    expect(page.locator("p.flash-error")).to_have_text("没有这个用户，请检查用户名。")
    page.screenshot(path=str(SCREENSHOTS / "labels_delegate_error.png"), full_page=True)
    error = page.locator("p.flash-error").evaluate("p => getComputedStyle(p).backgroundColor")
    assert success != error  # 已领取 is not pink like an error


def test_a_process_draft_can_be_discarded_after_a_confirmation(page: Page, live_server: str, ctx) -> None:
    from engine.services import designer, identity

    list(load(ctx))
    chen = identity.get_actor(ctx, "chen.jie")
    _, xml = designer.get_process_xml(ctx, "service_request", None, actor=chen)
    designer.save_draft(ctx, kind="process", name="service_request", content=xml, actor=chen)
    _sign_in(page, live_server, "chen.jie")
    page.goto(f"{live_server}/designer/modeler/service_request")
    expect(page.locator("body[data-modeler-ready='1']")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.dismiss())  # "no": the draft stays
    page.click("#discard-draft")
    assert designer.list_drafts(ctx, actor=chen)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#discard-draft")
    page.wait_for_url("**/designer/modeler/service_request?fresh=1")
    assert designer.list_drafts(ctx, actor=chen) == []
