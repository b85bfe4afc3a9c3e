"""The customer portal with Flask's test client: sign in by SMS code, file, follow, rate, ask for review; isolation."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta

import pytest

from engine.complaints import service as complaints
from engine.db.models import Attachment
from engine.services import tasks
from engine.services.timers import fire_due_timers
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.engine import open_tasks
from tests.support.portal import csrf, deploy_complaints, portal_login
from tests.support.web import login, multipart
from web import create_app

WANG, LI = "13912345678", "13812345678"
FORM = {"business_type": "bank_cards", "cause": "service_attitude", "summary": "网点柜员态度恶劣，拒绝办理挂失",
        "facts": "3月1日在朝阳支行", "request": "道歉并办理挂失", "amount": "200"}
ANSWER = {"findings": "调取监控核实柜员态度问题属实", "decision": "upheld",
          "answer": "经核实情况属实，已对柜员批评教育并向您致歉。", "extension": "none"}


@pytest.fixture
def sms(ctx):
    channel = RecordingChannel("sms")
    ctx.register_channel(channel)
    return channel


@pytest.fixture
def app(ctx, people, sms):
    add_customers(ctx, customer("C1001", name="王建国", phone=WANG), customer("C1002", name="李晓梅", phone=LI))
    deploy_complaints(ctx)
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def file_complaint(client, token: str, **fields) -> str:
    response = client.post("/portal/complaints/new", data={"csrf_token": token, "form_id": "f1", **FORM, **fields},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"].split("/portal/complaints/")[1].split("?")[0]


def answer(ctx, people, case_no: str) -> None:
    """Staff investigate and answer the case (the routing sends a bank-card complaint to service_team)."""
    view = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    [task] = open_tasks(ctx, view.instance_id)
    assert task.task_name == "investigate"
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    tasks.complete_task(ctx, task.id, actor=people["alice"], data=ANSWER)


def test_the_portal_speaks_chinese_by_default_and_english_on_request(app):
    client = app.test_client()
    page = client.get("/portal/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "手机号登录" in page and "Sign in with your phone" not in page
    page = client.get("/portal/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Sign in with your phone" in page and "手机号登录" not in page
    assert "Send me a code" in client.get("/portal/login").get_data(as_text=True)  # remembered


def test_a_customer_files_follows_rates_and_asks_for_review(app, ctx, sms, people):
    client, token = portal_login(app, ctx, sms, WANG)
    pdf = (io.BytesIO(b"%PDF-1.4 receipt"), "回单.pdf")
    case_no = file_complaint(client, token, files=pdf)
    page = client.get(f"/portal/complaints/{case_no}?created=1").get_data(as_text=True)
    assert "投诉已提交" in page and case_no in page and "已受理" in page and "回单.pdf" in page
    assert "2025-03-18" in page  # answer due 15 days after receipt
    assert "<dd>银行卡</dd>" in page and '<li data-event="received">' in page and "Bank cards" not in page
    english = client.get(f"/portal/complaints/{case_no}?lang=en").get_data(as_text=True)
    assert "<dt>Kind of business</dt><dd>Bank cards</dd>" in english and "Answer due by" in english
    assert "银行卡" not in english and "已受理" not in english and "Received</li>" in english  # the timeline's label
    client.get("/lang/zh")
    listing = client.get("/portal/complaints").get_data(as_text=True)
    assert case_no in listing and "网点柜员态度恶劣" in listing
    view = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    assert (view.channel, view.customer_id) == ("portal", "C1001")
    with ctx.sessions() as session:  # the file sits on the case's instance, where staff see it
        [row] = session.query(Attachment).all()
        assert (str(row.instance_id), row.uploaded_by, row.filename) == (view.instance_id, "customer:C1001", "回单.pdf")

    answer(ctx, people, case_no)
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert "已对柜员批评教育并向您致歉" in page and 'id="rate-form"' in page and 'id="review-form"' in page
    assert "alice" not in page  # staff names stay internal

    bad = client.post(f"/portal/complaints/{case_no}/rate", data={"csrf_token": token, "score": "9"})
    assert bad.status_code == 422 and "请选择1至5分" in bad.get_data(as_text=True)
    rated = client.post(f"/portal/complaints/{case_no}/rate", data={"csrf_token": token, "score": "2", "comment": "不满意"})
    assert rated.status_code == 302
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert 'id="rating-score">2<' in page and 'id="rate-form"' not in page and "重新处理中" in page
    assert complaints.get_complaint(ctx, case_no, actor=people["alice"]).satisfaction == 2

    # A score of 1–2 goes to a supervisor, who keeps the answer; the customer then asks for a review (核查).
    [reopen] = open_tasks(ctx, complaints.get_complaint(ctx, case_no, actor=people["sam"]).instance_id)
    assert reopen.task_name == "reopen_case"
    tasks.claim_task(ctx, reopen.id, actor=people["sam"])
    tasks.complete_task(ctx, reopen.id, actor=people["sam"], data={"reopen_action": "maintain",
                                                                   "reopen_note": "已致电客户，维持原答复"})
    review = client.post(f"/portal/complaints/{case_no}/review",
                         data={"csrf_token": token, "reason": "赔偿金额不足，请上级机构核查"})
    assert review.status_code == 302
    view = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    assert view.status == "under_review" and view.review_requested_at == ctx.clock.now()
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert "已申请核查" in page and 'id="review-form"' not in page


def test_a_satisfied_customer_may_still_ask_for_a_review_until_the_window_closes(app, ctx, sms, people):
    """The answer tells every customer they may ask for a review within the window (docs/domain.md §1.6); a good
    rating does not take that away. The case closes when the window does, unless a review was asked for."""
    client, token = portal_login(app, ctx, sms, WANG)
    case_no = file_complaint(client, token)
    answer(ctx, people, case_no)
    assert client.post(f"/portal/complaints/{case_no}/rate", data={"csrf_token": token, "score": "5"}).status_code == 302
    view = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    assert (view.status, view.satisfaction, view.can_request_review) == ("answered", 5, True)
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert 'id="review-form"' in page and 'id="rate-form"' not in page
    late = client.post(f"/portal/complaints/{case_no}/rate", data={"csrf_token": token, "score": "1"})
    assert late.status_code == 409  # rated once

    ctx.clock.set(datetime.combine(view.review_apply_by + timedelta(days=1), time(1, 0), tzinfo=UTC))
    fire_due_timers(ctx)
    closed = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    assert (closed.status, closed.can_request_review) == ("closed", False)
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert 'id="review-form"' not in page


def test_a_customer_cannot_open_or_act_on_another_customers_case(app, ctx, sms, people):
    wang, wang_token = portal_login(app, ctx, sms, WANG)
    case_no = file_complaint(wang, wang_token)
    ctx.clock.advance(timedelta(seconds=61))
    li, li_token = portal_login(app, ctx, sms, LI)
    assert li.get(f"/portal/complaints/{case_no}").status_code == 404
    assert li.get("/portal/complaints/TS20990101-000001").status_code == 404  # same answer as for a missing case
    assert case_no not in li.get("/portal/complaints").get_data(as_text=True)
    assert li.post(f"/portal/complaints/{case_no}/withdraw", data={"csrf_token": li_token}).status_code == 404
    assert complaints.get_complaint(ctx, case_no, actor=people["alice"]).status != "withdrawn"


def test_customers_and_staff_never_share_a_session(app, ctx, sms, people):
    customer_client, _ = portal_login(app, ctx, sms, WANG)
    assert customer_client.get("/inbox").status_code == 302  # to the staff login
    assert customer_client.get("/complaints").status_code == 302
    assert customer_client.get("/api/v1/tasks").status_code == 401
    staff, _ = login(app, "alice")
    response = staff.get("/portal/complaints")
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/login")


def test_every_portal_form_needs_the_csrf_token(app, ctx, sms):
    client = app.test_client()
    assert client.post("/portal/login", data={"step": "phone", "phone": WANG}).status_code == 400
    client, token = portal_login(app, ctx, sms, WANG)
    assert client.post("/portal/complaints/new", data=FORM).status_code == 400
    assert client.post("/portal/complaints/new", data={**FORM, "csrf_token": "forged"}).status_code == 400
    assert client.post("/portal/logout", data={}).status_code == 400


def test_an_unknown_phone_gets_the_same_page_as_a_customer(app, sms):
    def ask(phone: str) -> tuple[int, str]:
        client = app.test_client()
        token = csrf(client.get("/portal/login").get_data(as_text=True))
        response = client.post("/portal/login", data={"csrf_token": token, "step": "phone", "phone": phone})
        return response.status_code, response.get_data(as_text=True).replace(token, "TOKEN").replace(phone, "PHONE")

    assert ask(WANG) == ask("13600000000")


def test_a_wrong_code_is_refused_and_the_session_expires_after_30_minutes(app, ctx, sms, clock):
    client = app.test_client()
    token = csrf(client.get("/portal/login").get_data(as_text=True))
    client.post("/portal/login", data={"csrf_token": token, "step": "phone", "phone": WANG})
    wrong = client.post("/portal/login", data={"csrf_token": token, "step": "code", "phone": WANG, "code": "12345x"})
    assert wrong.status_code == 401 and "验证码不正确" in wrong.get_data(as_text=True)
    clock.advance(timedelta(minutes=2))
    signed_in, _ = portal_login(app, ctx, sms, WANG)
    assert signed_in.get("/portal/complaints").status_code == 200
    clock.advance(timedelta(minutes=31))
    expired = signed_in.get("/portal/complaints")
    assert expired.status_code == 302 and expired.headers["Location"].endswith("/portal/login")


def test_bad_input_and_bad_files_come_back_with_messages(app, ctx, sms):
    client, token = portal_login(app, ctx, sms, WANG)
    response = client.post("/portal/complaints/new", content_type="multipart/form-data", data={
        "csrf_token": token, "business_type": "lottery", "cause": "", "summary": "短", "amount": "-3",
        "files": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "invoice.pdf")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("请选择业务类型", "请选择投诉原因", "请用5至500字概述问题", "请输入有效金额", "invoice.pdf"):
        assert message in page
    assert 'value="-3"' in page  # what the customer typed stays
    response = client.post("/portal/complaints/new?lang=en", content_type="multipart/form-data", data={
        "csrf_token": token, "business_type": "lottery", "cause": "", "summary": "短"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "请选择业务类型" not in page
    for message in ("Please check the marked fields", "Choose the kind of business", "Choose the cause",
                    "Describe the problem in 5 to 500 characters"):
        assert message in page
    client.get("/lang/zh")
    assert "您还没有投诉记录" in client.get("/portal/complaints").get_data(as_text=True)


def test_a_double_submitted_form_files_one_case(app, ctx, sms, people):
    client, token = portal_login(app, ctx, sms, WANG)
    first, again = file_complaint(client, token), file_complaint(client, token)
    assert first == again
    assert len(complaints.list_complaints(ctx, actor=people["alice"], customer_id="C1001")) == 1


def test_a_customer_can_withdraw_an_open_case(app, ctx, sms, people):
    client, token = portal_login(app, ctx, sms, WANG)
    case_no = file_complaint(client, token)
    response = client.post(f"/portal/complaints/{case_no}/withdraw", data={"csrf_token": token, "reason": "已解决"})
    assert response.status_code == 302
    assert complaints.get_complaint(ctx, case_no, actor=people["alice"]).status == "withdrawn"
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert "已撤回" in page and 'id="withdraw-form"' not in page


def test_staff_record_a_phone_complaint_at_the_desk(app, ctx, people):
    client, token = login(app, "carol")
    page = client.get("/complaints/new").get_data(as_text=True)
    form_id = page.split('name="form_id" value="')[1].split('"')[0]
    data = {"csrf_token": token, "form_id": form_id, "channel": "phone", "complainant_name": "赵小刚",
            "complainant_phone": "13700001111", "business_type": "loans", "cause": "pricing_terms",
            "summary": "房贷提前还款违约金过高", "group_size": "1", "received_at": "2025-03-03 08:30"}
    response = client.post("/complaints/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    case_no = response.headers["Location"].rsplit("/", 1)[1]
    view = complaints.get_complaint(ctx, case_no, actor=people["carol"])
    assert (view.channel, view.complainant_name) == ("phone", "赵*刚")
    assert view.received_at.isoformat() == "2025-03-03T00:30:00+00:00"  # 08:30 in Shanghai
    case_page = client.get(f"/complaints/{case_no}").get_data(as_text=True)
    assert "房贷提前还款违约金过高" in case_page and f"已登记投诉 {case_no}" in case_page  # the flash, in Chinese
    listing = client.get("/complaints").get_data(as_text=True)
    assert case_no in listing and "赵*刚" in listing and "赵小刚" not in listing and "13700001111" not in listing
    assert "<td>电话银行/客服热线</td><td>贷款</td>" in listing and "Loans" not in listing
    english = client.get("/complaints?lang=en").get_data(as_text=True)
    assert "<td>Phone banking / hotline</td><td>Loans</td>" in english and "<th>Legal due date</th>" in english
    assert "贷款" not in english
    client.get("/lang/zh")
    assert client.post("/complaints/new", data=data).headers["Location"].endswith(case_no)  # resubmitted: one case
    bad = client.post("/complaints/new", data={**data, "form_id": "x2", "channel": "", "summary": ""})
    assert bad.status_code == 422 and 'data-field="summary"' in bad.get_data(as_text=True)
    assert "必填，最多500字" in bad.get_data(as_text=True) and "请选择" in bad.get_data(as_text=True)
    designer, _ = login(app, "dora")
    assert designer.get("/complaints").status_code == 403


def test_staff_see_the_portal_case_and_its_task_from_the_desk(app, ctx, sms, people):
    client, token = portal_login(app, ctx, sms, WANG)
    case_no = file_complaint(client, token)
    staff, _ = login(app, "alice")
    page = staff.get(f"/complaints/{case_no}").get_data(as_text=True)
    view = complaints.get_complaint(ctx, case_no, actor=people["alice"])
    [task] = open_tasks(ctx, view.instance_id)
    assert f"/inbox/tasks/{task.id}" in page and "网点柜员态度恶劣" in page and "customer:C1001" in page
    carol, _ = login(app, "carol")  # branch_team: the case, but not service_team's task
    page = carol.get(f"/complaints/{case_no}").get_data(as_text=True)
    assert case_no in page and f"/inbox/tasks/{task.id}" not in page


def test_a_refused_resend_keeps_the_code_box_and_speaks_one_language(app, ctx, sms):
    client = app.test_client()
    token = csrf(client.get("/portal/login").get_data(as_text=True))
    assert client.post("/portal/login", data={"csrf_token": token, "step": "phone", "phone": WANG}).status_code == 200
    again = client.post("/portal/login", data={"csrf_token": token, "step": "resend", "phone": WANG})
    page = again.get_data(as_text=True)
    assert again.status_code == 429
    assert 'id="code"' in page and 'id="verify"' in page  # the code sent a moment ago can still be typed in
    assert "请求过于频繁" in page and "Too many" not in page
    wrong = client.post("/portal/login", data={"csrf_token": token, "step": "code", "phone": WANG, "code": "000000"})
    assert wrong.status_code == 401 and "验证码不正确" in wrong.get_data(as_text=True)
    assert "The code is not right" not in wrong.get_data(as_text=True)
    english = client.post("/portal/login?lang=en", data={"csrf_token": token, "step": "code", "phone": WANG,
                                                         "code": "000000"}).get_data(as_text=True)
    assert "The code is not right" in english and "验证码" not in english


def test_rating_choices_are_named_and_a_withdrawn_case_promises_no_answer_date(app, ctx, sms, people):
    client, token = portal_login(app, ctx, sms, WANG)
    case_no = file_complaint(client, token)
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert 'id="due"' in page  # an open case says when the answer is due
    answered = file_complaint(client, token, summary="另一笔业务办理太慢了", form_id="f2")
    answer(ctx, people, answered)
    page = client.get(f"/portal/complaints/{answered}").get_data(as_text=True)
    assert all(label in page for label in ("非常不满意", "不满意", "一般", "满意", "非常满意"))
    assert client.post(f"/portal/complaints/{case_no}/withdraw", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/portal/complaints/{case_no}").get_data(as_text=True)
    assert complaints.get_complaint(ctx, case_no, actor=people["alice"]).status == "withdrawn"
    assert 'id="due"' not in page
    refused = client.post(f"/portal/complaints/{case_no}/withdraw", data={"csrf_token": token})
    assert refused.status_code == 409 and "该投诉已办结，不能撤回" in refused.get_data(as_text=True)


def test_a_complainant_may_send_a_6_mb_file_the_page_states_the_one_upload_cap(app, ctx, sms):
    # settings.uploads.max_bytes (10 MB) is the portal's cap too: before, the portal allowed 4 MB per file and Flask
    # refused any request over 5 MB.
    client, token = portal_login(app, ctx, sms, WANG)
    assert "每个不超过10MB" in client.get("/portal/complaints/new").get_data(as_text=True)
    six = b"%PDF-1.4 " + b"0" * (6 * 1024 * 1024 - 9)
    body, content_type = multipart({"csrf_token": token, "form_id": "f6", **FORM}, {"files": ("回单.pdf", six)})
    response = client.post("/portal/complaints/new", data=body, content_type=content_type)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with ctx.sessions() as session:
        [row] = session.query(Attachment).all()
        assert (row.filename, row.size) == ("回单.pdf", 6 * 1024 * 1024)
