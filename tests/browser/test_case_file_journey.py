"""A complaint's case file in a real browser: the handler sees the complaint on the task page, keeps a draft and
answers; the supervisor sees the answer and the remedy on the approval page and approves; the case page prints.

Screenshots (desktop 1280x800 and phone 390x844) go to test-artifacts/screenshots/casefile_*.png.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.services import identity
from tests.processes.test_complaint_handling import deploy_complaints, task_named
from tests.support.care import add_customers, customer

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FACTS = "3月1日在朝阳支行ATM取款2000元，机器未出钞，账户却已扣款。"
REQUEST = "退回被扣的2000元，并说明原因。"
ANSWER = "经核查ATM流水与监控录像，确认未出钞，已于3月4日退回2000元并补偿80元。"


@pytest.fixture
def case(ctx, people):
    deploy_complaints(ctx)
    add_customers(ctx, customer("C1", manager="bob", name="王小明", phone="13912345678"))
    identity.create_user(ctx, username="sue", roles=["supervisor"], groups=["supervisors"], password="correct horse 1")
    view, _ = complaints.submit_complaint(ctx, ComplaintInput(
        channel="mobile_app", business_type="bank_cards", cause="fund_safety", summary="ATM未出钞但已扣款",
        customer_id="C1", complainant_name="王小明", complainant_phone="13912345678", facts=FACTS, request=REQUEST,
        amount=Decimal("60000")), actor=people["alice"])
    return view


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"casefile_{name}_desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / f"casefile_{name}_phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def test_handler_sees_the_complaint_supervisor_sees_answer_and_remedy_and_approves(page, login, live_server, case,
                                                                                     ctx):
    login("alice")
    investigate = task_named(ctx, case.instance_id, "investigate")
    page.goto(f"{live_server}/inbox/tasks/{investigate.id}")
    complaint = page.locator("#cf-complaint_case")
    expect(complaint).to_contain_text(case.case_no)
    expect(complaint.locator('[data-key="facts"] dd')).to_have_text(FACTS)
    expect(complaint.locator('[data-key="request"] dd')).to_have_text(REQUEST)
    expect(complaint.locator('[data-key="amount"] dd')).to_have_text("¥60,000.00")
    expect(page.locator("#cf-complaint_timeline")).to_contain_text("已受理")
    page.click("#action-claim")
    expect(page.locator("#form-js[data-ready='1']")).to_be_visible()
    page.locator('[id$="-Field_findings"]').fill("核对ATM流水与监控录像")
    page.click("#action-draft")  # half-filled: kept, unchecked, restored on the next visit
    expect(page.locator("p.flash")).to_contain_text("草稿已保存")
    page.goto(f"{live_server}/inbox/tasks/{investigate.id}")
    expect(page.locator('[id$="-Field_findings"]')).to_have_value("核对ATM流水与监控录像")
    shoot(page, "handler_task")
    page.locator("#form-js").get_by_label("支持客户诉求", exact=True).check()
    page.locator('[id$="-Field_answer"]').fill(ANSWER)
    page.locator('[id$="-Field_compensation"]').fill("80")
    page.click("#action-complete")
    expect(page.locator("p.flash")).to_contain_text("已完成")

    login("sue")
    approve = task_named(ctx, case.instance_id, "approve_answer")
    page.goto(f"{live_server}/inbox/tasks/{approve.id}")
    work = page.locator("#approved-work")
    expect(work).to_contain_text("你要审批的内容")
    expect(work.locator('[data-key="answer"] dd')).to_have_text(ANSWER)
    expect(work.locator('[data-key="compensation"] dt')).to_contain_text("补偿金额")
    expect(work.locator('[data-key="compensation"] dd')).to_have_text("80")
    expect(work.locator('[data-key="decision"] dd')).to_have_text("支持客户诉求")
    expect(page.locator("#cf-complaint_case [data-key='facts'] dd")).to_have_text(FACTS)
    shoot(page, "approval")
    page.click("#action-claim")
    expect(page.locator("#form-js[data-ready='1']")).to_be_visible()
    page.locator("#form-js").get_by_label("同意", exact=True).check()
    page.click("#action-complete")
    expect(page.locator("p.flash")).to_contain_text("已完成")

    page.goto(f"{live_server}/complaints/{case.case_no}")
    answered = page.locator('#cf-complaint_timeline tr[data-kind="answered"]')
    expect(answered).to_contain_text("处理人: alice")
    expect(answered).to_contain_text("审批人: sue")
    expect(answered).to_contain_text("支持客户诉求")
    shoot(page, "case_page")
    page.emulate_media(media="print")
    page.screenshot(path=str(SHOTS / "casefile_case_page_print.png"), full_page=True)
    expect(page.locator("#print-case")).to_be_hidden()
    expect(page.locator("#cf-complaint_case")).to_be_visible()


def test_a_sent_back_task_shows_why_at_the_top_and_the_approver_sees_what_changed(page, login, live_server, case,
                                                                                  ctx, people):
    from tests.processes.test_complaint_handling import FINDINGS
    from tests.support.engine import claim_and_complete

    sue = identity.get_actor(ctx, "sue")
    claim_and_complete(ctx, task_named(ctx, case.instance_id, "investigate").id, people["alice"],
                       {**FINDINGS, "compensation": 80})
    claim_and_complete(ctx, task_named(ctx, case.instance_id, "approve_answer").id, sue,
                       {"approved": False, "approval_comment": "请补充监控录像的核查结论"})
    login("alice")
    again = task_named(ctx, case.instance_id, "investigate")
    page.goto(f"{live_server}/inbox/tasks/{again.id}")
    expect(page.locator("#sent-back")).to_contain_text("请补充监控录像的核查结论")
    expect(page.locator("#sent-back")).to_contain_text("被 sue 退回")
    top = page.locator("#sent-back").bounding_box()
    assert top is not None and top["y"] < page.locator("#cf-complaint_case").bounding_box()["y"]
    shoot(page, "sent_back")
    claim_and_complete(ctx, again.id, people["alice"], {**FINDINGS, "compensation": 120, "findings": "监控录像显示未出钞"})
    login("sue")
    page.goto(f"{live_server}/inbox/tasks/{task_named(ctx, case.instance_id, 'approve_answer').id}")
    changed = page.locator("#approved-work .fact.changed")
    expect(changed).to_have_count(2)
    expect(page.locator('#approved-work [data-key="compensation"]')).to_contain_text("120")
    expect(page.locator('#approved-work [data-key="compensation"] del')).to_have_text("80")
    shoot(page, "approval_round_2")


def test_a_customer_manager_sees_customer_suitability_and_last_contacts_on_a_contact_task(page, login, live_server,
                                                                                         ctx, people):
    from tests.processes.test_cross_sell import add_customer, add_product, deploy_cross_sell
    from tests.support.engine import open_tasks

    deploy_cross_sell(ctx)
    add_customer(ctx, "C1", level=4)
    add_product(ctx, "PWMP1", 3, issuer=4)
    identity.create_user(ctx, username="mia", roles=["staff"], groups=["customer_managers"], password="correct horse 1")
    from engine.sales import service as sales

    lead = sales.create_lead(ctx, customer_id="C1", product_code="PWMP1", source="maturity", reason="定期到期",
                             actor=identity.get_actor(ctx, "mia"))
    [contact] = open_tasks(ctx, lead.instance_id)
    login("mia")
    page.goto(f"{live_server}/inbox/tasks/{contact.id}")
    expect(page.locator("#cf-customer_summary")).to_contain_text("王*明")
    expect(page.locator('#cf-suitability [data-key="risk_level"] dd')).to_have_text("C4")
    expect(page.locator('#cf-suitability [data-key="suitability_decision"] dd')).to_have_text("适当")
    expect(page.locator("#cf-last_contacts")).to_be_attached()
    shoot(page, "contact_task")
