"""A customer files a complaint in the portal, staff answer it through the inbox, the customer reads and rates it."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from engine.complaints import service as complaints
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.portal import deploy_complaints, latest_code

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = "13912345678"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"portal_{name}.png"), full_page=True)


def test_a_customer_complains_staff_answer_and_the_customer_rates(page: Page, browser: Browser, live_server, ctx,
                                                                  people, tmp_path):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    add_customers(ctx, customer("C1001", name="王建国", phone=PHONE))
    deploy_complaints(ctx)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone

    # The customer signs in with the code the SMS channel carried.
    page.goto(f"{live_server}/portal")
    expect(page.locator("h1")).to_have_text("手机号登录")
    page.fill("#phone", PHONE)
    page.click("#send-code")
    expect(page.locator("#code-sent")).to_be_visible()
    page.fill("#code", latest_code(ctx, sms))
    page.click("#verify")
    expect(page.locator("h1")).to_have_text("我的投诉")
    expect(page.locator("#cases")).to_contain_text("您还没有投诉记录")

    # ... and files a complaint with a receipt attached.
    receipt = tmp_path / "回单.pdf"
    receipt.write_bytes(b"%PDF-1.4 bank receipt")
    page.click("#new-complaint")
    page.select_option("#business_type", "bank_cards")
    page.select_option("#cause", "service_attitude")
    page.fill("#summary", "网点柜员态度恶劣，拒绝办理挂失")
    page.fill("#facts", "3月1日下午在朝阳支行办理银行卡挂失时被柜员呵斥。")
    page.fill("#request", "道歉并尽快办理挂失")
    page.set_input_files("#files", str(receipt))
    shot(page, "1_new_complaint")
    page.click("#submit-complaint")
    expect(page.locator("#created")).to_be_visible()
    case_no = page.locator("#case-no").inner_text()
    assert re.fullmatch(r"TS20250303-\d{6}", case_no)
    expect(page.locator("#case-status")).to_have_text("处理中")  # acknowledged and triaged at once
    expect(page.locator("#due")).to_have_text("2025-03-18")
    expect(page.locator("#files")).to_have_text("回单.pdf")
    shot(page, "2_filed")

    # Staff find it on the complaints desk and answer it through the inbox.
    staff = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900})
    desk = staff.new_page()
    try:
        desk.goto(f"{live_server}/login")
        desk.fill("input[name=username]", "alice")
        desk.fill("input[name=password]", "correct horse 1")
        with desk.expect_navigation():
            desk.click("button[type=submit]")
        desk.click("#nav-complaints")
        row = desk.locator(f'#complaint-list tr[data-case="{case_no}"]')
        expect(row).to_contain_text("客户门户")
        row.locator("a").click()
        expect(desk.locator("#case-no")).to_have_text(case_no)
        desk.locator("#case-tasks a[data-task]").click()
        expect(desk.locator("#attachments")).to_contain_text("回单.pdf")
        desk.click("#action-claim")
        expect(desk.locator("#task-status")).to_have_attribute("data-status", "claimed")
        expect(desk.locator("#form-js[data-ready='1']")).to_be_visible()
        desk.locator('[id$="-Field_findings"]').fill("调取监控录像，柜员态度问题属实。")
        desk.locator("#form-js").get_by_label("支持客户诉求", exact=True).check()
        desk.locator('[id$="-Field_answer"]').fill("经核实情况属实，已对柜员批评教育并向您致歉，挂失已办理。")
        desk.locator("#form-js").get_by_label("不延期，答复客户", exact=True).check()
        shot(desk, "3_staff_answer")
        desk.click("#action-complete")
        expect(desk.locator("p.flash")).to_contain_text("已完成")
    finally:
        staff.close()
    assert complaints.get_complaint(ctx, case_no, actor=people["alice"]).status == "answered"

    # The customer reads the answer and rates it.
    page.reload()
    expect(page.locator("#case-status")).to_have_text("已答复")
    expect(page.locator("#answer-text")).to_contain_text("已对柜员批评教育并向您致歉")
    shot(page, "4_answer")
    page.check("#score-5")
    page.fill("#comment", "处理及时，谢谢")
    page.click("#rate")
    expect(page.locator("#rating-score")).to_have_text("5")
    expect(page.locator("#rate-form")).to_have_count(0)
    expect(page.locator("#review-form")).to_be_visible()  # the review stays on offer while its window is open
    view = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    assert (view.status, view.satisfaction) == ("answered", 5)

    # The same page in English, one click away; the choice stays for the next page.
    page.click("#lang-toggle")
    expect(page.locator("#case-status")).to_have_text("Answered")
    expect(page.locator("#case dl")).to_contain_text("Kind of business")
    expect(page.locator("#case dl")).not_to_contain_text("业务类型")
    page.click("text=My complaints")
    expect(page.locator("h1")).to_have_text("My complaints")
