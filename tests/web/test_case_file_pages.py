"""The case file on the task page, the approval page and the staff complaint case page (Flask test client)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.services import identity
from tests.processes.test_complaint_handling import FINDINGS, deploy_complaints, task_named
from tests.support.care import add_customers, customer
from tests.support.engine import claim_and_complete
from tests.support.web import login
from web import create_app

FACTS = "3月1日在ATM取款2000元未出钞，账户却已扣款"
REQUEST = "退回被扣的2000元并说明原因"


@pytest.fixture
def app(ctx, people):
    deploy_complaints(ctx)
    add_customers(ctx, customer("C1", manager="bob", name="王小明", phone="13912345678"))
    identity.create_user(ctx, username="sue", roles=["supervisor"], groups=["supervisors"], password="correct horse 1")
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def case(ctx, people):
    view, _ = complaints.submit_complaint(ctx, ComplaintInput(
        channel="mobile_app", business_type="bank_cards", cause="fund_safety", summary="ATM未出钞但已扣款",
        customer_id="C1", complainant_name="王小明", complainant_phone="13912345678", facts=FACTS, request=REQUEST,
        amount=Decimal("60000")), actor=people["alice"])
    return view


def fact(page: str, key: str) -> str:
    found = re.search(rf'data-key="{key}"><dt>[^<]*(?:<span[^>]*>[^<]*</span>)?</dt><dd>(.*?)</dd>', page, re.S)
    assert found, key
    return found.group(1)


def test_the_handler_sees_the_complaint_on_the_task_page(ctx, app, case, people):
    client, _ = login(app, "alice")
    investigate = task_named(ctx, case.instance_id, "investigate")
    page = client.get(f"/inbox/tasks/{investigate.id}").get_data(as_text=True)
    assert 'id="cf-complaint_case"' in page and "投诉内容" in page
    assert fact(page, "case_no") == case.case_no and fact(page, "facts") == FACTS
    assert fact(page, "request") == REQUEST and fact(page, "amount") == "¥60,000.00"
    assert fact(page, "channel") == "手机银行" and fact(page, "target_due_on") == case.target_due_on.isoformat()
    assert fact(page, "complainant") == "王*明" and "13912345678" not in page
    assert 'id="cf-complaint_timeline"' in page and "已受理" in page
    english = client.get(f"/inbox/tasks/{investigate.id}?lang=en").get_data(as_text=True)
    assert "The complaint" in english and "Customer&#39;s request" in english and "Mobile app" in english


def test_the_approver_sees_the_answer_and_remedy_and_the_diff_after_a_send_back(ctx, app, case, people):
    claim_and_complete(ctx, task_named(ctx, case.instance_id, "investigate").id, people["alice"],
                       {**FINDINGS, "compensation": 80})
    approve = task_named(ctx, case.instance_id, "approve_answer")
    client, csrf = login(app, "sue")
    page = client.get(f"/inbox/tasks/{approve.id}").get_data(as_text=True)
    work = page[page.index('id="approved-work"'):page.index('id="cf-complaint_case"')]
    assert "你要审批的内容" in work and "调查处理" in work and "alice" in work
    assert fact(work, "answer") == FINDINGS["answer"] and fact(work, "decision") == "支持客户诉求"  # form's words
    assert fact(work, "compensation") == "80" and "补偿金额（元）" in work
    assert fact(page, "facts") == FACTS  # the complaint itself is beside it
    client.post(f"/inbox/tasks/{approve.id}/claim", data={"csrf_token": csrf})
    client.post(f"/inbox/tasks/{approve.id}/complete", data={"csrf_token": csrf, "approved": "false",
                                                             "approval_comment": "补充监控录像核查结论"})
    again = task_named(ctx, case.instance_id, "investigate")
    handler, handler_csrf = login(app, "alice")
    back = handler.get(f"/inbox/tasks/{again.id}").get_data(as_text=True)
    top = back[:back.index('class="actions"')]
    assert 'id="sent-back"' in top and "补充监控录像核查结论" in top and "sue" in top
    claim_and_complete(ctx, again.id, people["alice"], {**FINDINGS, "compensation": 120})
    second = task_named(ctx, case.instance_id, "approve_answer")
    page = client.get(f"/inbox/tasks/{second.id}").get_data(as_text=True)
    work = page[page.index('id="approved-work"'):page.index('id="cf-complaint_case"')]
    assert re.search(r'class="fact changed" data-key="compensation">.*?120.*?<del>80</del>', work, re.S)
    assert 'class="fact long" data-key="answer"' in work  # unchanged fields are not marked


def test_a_draft_is_saved_restored_and_discarded_on_the_task_page(ctx, app, case, people):
    investigate = task_named(ctx, case.instance_id, "investigate")
    client, csrf = login(app, "alice")
    client.post(f"/inbox/tasks/{investigate.id}/claim", data={"csrf_token": csrf})
    saved = client.post(f"/inbox/tasks/{investigate.id}/draft",
                        data={"csrf_token": csrf, "findings": "正在调取ATM监控", "decision": ""})
    assert saved.status_code == 302
    page = client.get(f"/inbox/tasks/{investigate.id}").get_data(as_text=True)
    assert "正在调取ATM监控" in page and 'id="action-discard-draft"' in page
    assert "正在调取ATM监控" not in login(app, "bob")[0].get(f"/inbox/tasks/{investigate.id}").get_data(as_text=True)
    client.post(f"/inbox/tasks/{investigate.id}/discard_draft", data={"csrf_token": csrf})
    page = client.get(f"/inbox/tasks/{investigate.id}").get_data(as_text=True)
    assert "正在调取ATM监控" not in page and 'id="action-discard-draft"' not in page
    other, other_csrf = login(app, "bob")
    refused = other.post(f"/inbox/tasks/{investigate.id}/draft", data={"csrf_token": other_csrf, "findings": "x"})
    assert refused.status_code == 403


def test_the_case_page_shows_facts_request_amount_and_who_answered_and_approved(ctx, app, case, people):
    claim_and_complete(ctx, task_named(ctx, case.instance_id, "investigate").id, people["alice"], FINDINGS)
    claim_and_complete(ctx, task_named(ctx, case.instance_id, "approve_answer").id, identity.get_actor(ctx, "sue"),
                       {"approved": True})
    client, _ = login(app, "bob")
    page = client.get(f"/complaints/{case.case_no}").get_data(as_text=True)
    assert fact(page, "facts") == FACTS and fact(page, "request") == REQUEST and fact(page, "amount") == "¥60,000.00"
    answered = re.search(r'<tr data-kind="answered">(.*?)</tr>', page, re.S).group(1)
    assert "已答复客户" in answered and "处理人: alice" in answered and "审批人: sue" in answered
    assert "决定: 支持客户诉求" in answered
    assert 'id="print-case" data-print' in page and 'class="print-only' in page
    theme = re.search(r'href="(/static/build/theme-[A-Z0-9]+\.css)"', page).group(1)  # type: ignore[union-attr]
    styles = client.get(theme)
    assert "@media print" in styles.get_data(as_text=True)  # the print view: no navigation, forms or buttons
    styles.close()


def test_the_customers_files_are_on_the_task_page_and_open_for_the_handler(ctx, app, case, people):
    from engine.complaints import portal
    from engine.views import Actor

    portal.attach_files(ctx, case.instance_id, [("扣款短信截图.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64)],
                        actor=Actor("customer:C1", frozenset({"customer"})))
    client, _ = login(app, "alice")
    page = client.get(f"/inbox/tasks/{task_named(ctx, case.instance_id, 'investigate').id}").get_data(as_text=True)
    link = re.search(r'<p class="files">.*?<a href="(/inbox/attachments/\d+)">扣款短信截图.png</a> '
                     r'<span class="badge">客户提交</span>', page, re.S)
    assert link and client.get(link.group(1)).status_code == 200
