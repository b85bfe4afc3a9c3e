"""The inbox in a real browser: filter, claim, a wrong form then a right one; a supervisor approves; a breach shows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.services import instances, tasks
from engine.views import SYSTEM
from tests.support.care import add_customers, customer
from tests.support.engine import claim_and_complete, deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def requests_waiting(ctx):
    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("service_request_*.json"))]
    deploy(ctx, *files)
    add_customers(ctx, customer("C1001", date(1975, 4, 2), name="王建国", phone="13912345678"),
                  customer("C1002", date(1988, 9, 9), name="李晓梅", phone="13812345678"))
    return [instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id=c,
                                     business_key=f"SR-{c}") for c in ("C1001", "C1002")]


def test_staff_filters_claims_and_submits_a_form_wrong_then_right(page, login, live_server, requests_waiting, ctx):
    login("alice")
    page.goto(f"{live_server}/inbox?view=queue")
    expect(page.locator("#task-list tr[data-task]")).to_have_count(2)
    page.fill("input[name=customer]", "C1002")
    page.click("#filters button[type=submit]")
    rows = page.locator("#task-list tr[data-task]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("C1002")
    rows.first.locator("a").click()
    expect(page.locator("#cf-customer_summary")).to_contain_text("李*梅")
    expect(page.locator("#cf-customer_summary")).to_contain_text("138****5678")
    page.click("#action-claim")
    expect(page.locator("#task-status")).to_have_attribute("data-status", "claimed")
    expect(page.locator("#form-js[data-ready='1']")).to_be_visible()  # form-js draws the deployed schema
    expect(page.locator("#task-form .server-fields")).to_be_hidden()
    amount = page.locator('[id$="-Field_amount"]')
    amount.fill("-20")
    page.click("#action-complete")  # form-js checks in the browser, in the page's language; nothing is posted
    expect(page.locator('[id$="-Field_resolution-error-message"]')).to_have_text("此项为必填项")
    expect(page.locator('[id$="-Field_amount-error-message"]')).to_contain_text("不能小于 0")
    expect(page.locator("#task-status")).to_have_attribute("data-status", "claimed")
    # The server checks every post itself: one that skipped the browser's check comes back (422) with the
    # server's messages under the same fields and the values as they were sent.
    page.evaluate("""() => {
        const form = document.getElementById('task-form');
        const json = form.querySelector('[name=careflow_form_json]');
        json.disabled = false;
        json.value = JSON.stringify({resolution: '', amount: -20});
        HTMLFormElement.prototype.submit.call(form);
    }""")
    expect(page.locator("#form-errors")).to_be_visible()
    expect(page.locator("#form-js[data-ready='1']")).to_be_visible()
    expect(page.locator('[id$="-Field_resolution-error-message"]')).to_have_text("此项为必填项")
    expect(page.locator('[id$="-Field_amount-error-message"]')).to_contain_text("不能小于 0")
    expect(amount).to_have_value("-20")
    page.screenshot(path=str(ROOT / "test-artifacts" / "screenshots" / "form_errors.png"), full_page=True)
    page.locator('[id$="-Field_resolution"]').fill("已为客户补发银行卡")
    amount.fill("80000")
    page.locator('[id$="-Field_resolved"]').check()
    page.click("#action-complete")
    expect(page.locator("p.flash")).to_contain_text("已完成")
    target = next(i for i in requests_waiting if i.customer_id == "C1002")
    view = instances.get_instance(ctx, target.id, actor=SYSTEM)
    assert [t.task_name for t in view.open_tasks] == ["approve_request"]  # ≥ 50,000 goes to a supervisor


def test_supervisor_approves_the_escalation(page, login, live_server, requests_waiting, ctx, people):
    first = requests_waiting[0]
    [handle] = open_tasks(ctx, first.id)
    claim_and_complete(ctx, handle.id, people["alice"], {"resolution": "大额退款", "amount": 60000})
    login("sam")
    page.goto(f"{live_server}/inbox?view=queue")
    page.locator("#task-list tr[data-task]", has_text="主管审批").locator("a").click()
    page.click("#action-claim")
    expect(page.locator("#form-js[data-ready='1']")).to_be_visible()
    page.locator("#form-js").get_by_label("同意", exact=True).check()
    page.locator('[id$="-Field_approval_comment"]').fill("同意退款")
    page.click("#action-complete")
    expect(page.locator("p.flash")).to_contain_text("已完成")
    assert instances.get_instance(ctx, first.id, actor=SYSTEM).status == "completed"
    assert tasks.list_tasks(ctx, actor=people["sam"], view="archive").items[0].completed_by == "sam"


def test_an_overdue_task_shows_its_breach(page, login, live_server, requests_waiting, clock):
    clock.advance(timedelta(days=2, hours=1))  # handle_request is due in P2D
    login("sam")
    page.goto(f"{live_server}/inbox?view=all&overdue=1")
    expect(page.locator("#task-list tr.overdue")).to_have_count(2)
    expect(page.locator("#task-list .sla-breach").first).to_have_text("已逾期")
    page.goto(f"{live_server}/supervisor")
    expect(page.locator("#sla-board")).to_contain_text("客户服务请求")  # the process name, not its key
    expect(page.locator("#workload .badge.breach")).to_have_text("2")
