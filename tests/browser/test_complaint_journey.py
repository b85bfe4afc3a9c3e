"""The whole complaint journey in a real browser, at desktop and phone width: a customer files in the portal; the
handler finds the case by its number through the global search, sees the facts on the task page and answers; the
supervisor sees the draft answer and the remedy on the approval page and approves; the customer reads the answer,
rates it and asks for a review. Screenshots: test-artifacts/screenshots/journey_<width>_<step>.png.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.portal import deploy_complaints, latest_code

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PHONE = "13912345678"
FACTS = "3月1日在朝阳支行ATM取款2000元，机器未出钞，账户却已扣款。"
REQUEST = "退回被扣的2000元，并说明原因。"
ANSWER = "经核查ATM流水与监控录像，确认未出钞，已于3月4日退回2000元并补偿80元。"


def _page(browser: Browser, width: str) -> Page:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=WIDTHS[width])
    return context.new_page()


def _shot(page: Page, width: str, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"journey_{width}_{step}.png"), full_page=True)


def _staff(browser: Browser, base: str, width: str, username: str) -> Page:
    page = _page(browser, width)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def _search(page: Page, width: str, text: str) -> None:
    """The header's search box: "/" on a desktop; on a phone it sits in the menu behind the toggler."""
    if width == "phone":
        page.click(".navbar-toggler")
        page.click("#global-search")
    else:
        page.keyboard.press("/")
        expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type(text)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_a_complaint_from_the_portal_to_the_answer_the_rating_and_the_review(browser, live_server, ctx, people, width):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    add_customers(ctx, customer("C1001", name="王建国", phone=PHONE))
    deploy_complaints(ctx)

    # The customer signs in with the SMS code and files the complaint.
    portal = _page(browser, width)
    portal.goto(f"{live_server}/portal")
    portal.fill("#phone", PHONE)
    portal.click("#send-code")
    portal.fill("#code", latest_code(ctx, sms))
    portal.click("#verify")
    portal.click("#new-complaint")
    portal.select_option("#business_type", "bank_cards")
    portal.select_option("#cause", "fund_safety")
    portal.fill("#summary", "ATM未出钞但已扣款")
    portal.fill("#facts", FACTS)
    portal.fill("#request", REQUEST)
    portal.fill("#amount", "60000")
    portal.click("#submit-complaint")
    expect(portal.locator("#created")).to_be_visible()
    case_no = portal.locator("#case-no").inner_text()
    assert re.fullmatch(r"TS\d{8}-\d{6}", case_no)
    _shot(portal, width, "1_filed")

    # The handler finds it by its number through the global search and sees the facts on the task page.
    alice = _staff(browser, live_server, width, "alice")
    _search(alice, width, case_no)
    found = alice.locator(f'#results-cases tr[data-case="{case_no}"]')
    expect(found).to_have_count(1)
    _shot(alice, width, "2_search")
    found.locator("a").click()
    alice.locator("#case-tasks a[data-task]").first.click()
    complaint = alice.locator("#cf-complaint_case")
    expect(complaint.locator('[data-key="facts"] dd')).to_have_text(FACTS)
    expect(complaint.locator('[data-key="request"] dd')).to_have_text(REQUEST)
    expect(complaint.locator('[data-key="amount"] dd')).to_have_text("¥60,000.00")
    alice.click("#action-claim")
    expect(alice.locator("#form-js[data-ready='1']")).to_be_visible()
    alice.locator('[id$="-Field_findings"]').fill("核对ATM流水与监控录像")
    alice.locator("#form-js").get_by_label("支持客户诉求", exact=True).check()
    alice.locator('[id$="-Field_answer"]').fill(ANSWER)
    alice.locator('[id$="-Field_compensation"]').fill("80")
    _shot(alice, width, "3_task")
    alice.click("#action-complete")
    expect(alice.locator("p.flash")).to_contain_text("已完成")

    # The supervisor sees what she approves — the answer and the remedy — next to the complaint, and approves.
    sam = _staff(browser, live_server, width, "sam")
    _search(sam, width, case_no)
    sam.locator(f'#results-cases tr[data-case="{case_no}"] a').click()
    sam.locator("#case-tasks a[data-task]").first.click()
    work = sam.locator("#approved-work")
    expect(work.locator('[data-key="answer"] dd')).to_have_text(ANSWER)
    expect(work.locator('[data-key="compensation"] dd')).to_have_text("80")
    expect(work.locator('[data-key="decision"] dd')).to_have_text("支持客户诉求")
    expect(sam.locator("#cf-complaint_case [data-key='facts'] dd")).to_have_text(FACTS)
    _shot(sam, width, "4_approval")
    sam.click("#action-claim")
    expect(sam.locator("#form-js[data-ready='1']")).to_be_visible()
    sam.locator("#form-js").get_by_label("同意", exact=True).check()
    sam.click("#action-complete")
    expect(sam.locator("p.flash")).to_contain_text("已完成")

    # The customer reads the answer, rates it and, still within the window, asks for a review.
    portal.goto(f"{live_server}/portal/complaints/{case_no}")
    expect(portal.locator("#answer-text")).to_have_text(ANSWER)
    portal.check("#score-4")
    portal.click("#rate")
    expect(portal.locator("#rating-score")).to_have_text("4")
    portal.fill("#reason", "补偿金额不足以弥补误工损失，请上级机构核查。")
    portal.click("#request-review")
    expect(portal.locator("#review-status")).to_contain_text("已申请核查")
    expect(portal.locator("#case-status")).to_have_text("核查中")
    _shot(portal, width, "5_review")
    for page in (portal, alice, sam):
        page.context.close()
