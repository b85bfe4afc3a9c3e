"""A customer asks for a copy and a deletion of their personal data in the portal (a phone's width); compliance staff
see the open requests by deadline (an overdue one marked), answer the copy and decide the deletion (refused: the
customer relationship holds it); the customer reads both answers and downloads the copy."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from engine.dsr import service as dsr
from engine.services import identity
from engine.views import SYSTEM
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.portal import latest_code

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = "13912345678"
PHONE_WIDTH = {"width": 390, "height": 844}


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dsr_{name}.png"), full_page=True)


def portal_sign_in(page: Page, live_server: str, ctx, sms) -> None:
    page.goto(f"{live_server}/portal")
    page.fill("#phone", PHONE)
    page.click("#send-code")
    page.fill("#code", latest_code(ctx, sms))
    page.click("#verify")
    expect(page.locator("h1")).to_have_text("我的投诉")


def test_a_customer_asks_for_a_copy_and_a_deletion_and_compliance_answers(page: Page, browser: Browser, live_server,
                                                                         ctx, people, clock, login):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    add_customers(ctx, customer("C1001", name="王建国", phone=PHONE, email="wang@example.cn"),
                  customer("C1002", name="李晓梅", phone="13812345678"))
    identity.create_user(ctx, username="cora", roles=["compliance"], groups=[], password="correct horse 1")
    late = dsr.record_request(ctx, "C1002", "access", "phone", note="来电，已核实身份", actor=SYSTEM)
    clock.advance(timedelta(days=30))  # the phone request is now past its 15 working days

    # The customer, on a phone: "My personal data", a copy, then a deletion (which must be confirmed).
    page.set_viewport_size(PHONE_WIDTH)
    portal_sign_in(page, live_server, ctx, sms)
    page.click("#nav-requests")
    expect(page.locator("h1")).to_have_text("我的个人信息")
    expect(page.locator("#requests")).to_contain_text("您还没有提交过申请")
    page.click("#file-request")
    expect(page.locator("#filed")).to_be_visible()
    expect(page.locator("#request")).to_contain_text("已受理")
    access_url = page.url.split("?")[0]
    page.goto(f"{live_server}/portal/requests")
    page.check("input[name=kind][value=deletion]")
    page.click("#file-request")
    expect(page.locator("#request-error")).to_contain_text("请勾选确认")
    expect(page.locator("input[name=kind][value=deletion]")).to_be_checked()  # the choice is kept
    page.check("input[name=confirm]")
    shot(page, "portal_1_form_390")
    page.click("#file-request")
    expect(page.locator("#request")).to_contain_text("删除个人信息")
    page.goto(f"{live_server}/portal/requests")
    expect(page.locator("#requests li")).to_have_count(2)
    shot(page, "portal_2_list_390")

    # Compliance, at a desk: the open requests by deadline, the late phone request first and marked.
    staff = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 800})
    desk = staff.new_page()
    desk.goto(f"{live_server}/login")
    desk.fill("input[name=username]", "cora")
    desk.fill("input[name=password]", "correct horse 1")
    desk.click("button[type=submit]")
    desk.click("#nav-data-requests")
    rows = desk.locator("#request-list tr[data-request]")
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-request", str(late.id))
    expect(rows.first).to_have_class("overdue")
    expect(rows.first).to_contain_text("逾期")
    expect(desk.locator("#request-list")).to_contain_text("王*国")
    expect(desk.locator("#request-list")).not_to_contain_text("王建国")
    desk.screenshot(path=str(SHOTS / "dsr_staff_1_list_desktop.png"), full_page=True)
    desk.set_viewport_size(PHONE_WIDTH)
    desk.screenshot(path=str(SHOTS / "dsr_staff_2_list_390.png"), full_page=True)
    desk.set_viewport_size({"width": 1280, "height": 800})

    # She answers the copy, then decides the deletion: refused, the customer relationship holds the data.
    access_id, deletion_id = (int(rows.nth(i).get_attribute("data-request")) for i in (1, 2))
    kinds = {rows.nth(i).get_attribute("data-request"): rows.nth(i).inner_text() for i in (1, 2)}
    if "删除" in kinds[str(access_id)]:
        access_id, deletion_id = deletion_id, access_id
    desk.goto(f"{live_server}/data-requests/{access_id}")
    desk.fill("#f-answer", "您的个人信息副本已可在客户服务平台下载。")
    desk.click("#answer-access")
    expect(desk.locator("#download-json")).to_be_visible()
    desk.screenshot(path=str(SHOTS / "dsr_staff_3_answered_desktop.png"), full_page=True)
    desk.goto(f"{live_server}/data-requests/{deletion_id}")
    desk.once("dialog", lambda dialog: dialog.accept())
    desk.click("#decide-deletion")
    expect(desk.locator("#refusal-reason")).to_contain_text("您仍是本行客户")
    desk.screenshot(path=str(SHOTS / "dsr_staff_4_refused_desktop.png"), full_page=True)
    staff.close()

    # The customer reads both answers and downloads the copy.
    page.goto(access_url)
    expect(page.locator("#request")).to_contain_text("已答复")
    with page.expect_download() as download:
        page.click("#download-json")
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert data["customer"]["name"] == "王建国" and data["customer"]["email"] == "wang@example.cn"
    shot(page, "portal_3_answered_390")
    page.goto(f"{live_server}/portal/requests/{deletion_id}")
    expect(page.locator("#refusal-reason")).to_contain_text("您仍是本行客户")
    shot(page, "portal_4_refused_390")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server}/portal/requests/{deletion_id}?lang=en")
    expect(page.locator("#refusal-reason")).to_contain_text("You are still our customer")
    shot(page, "portal_5_refused_desktop_en")
