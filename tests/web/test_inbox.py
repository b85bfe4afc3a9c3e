"""The staff inbox and supervisor desk pages, through the Flask test client with a real session."""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from engine.services import instances, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.care import add_customers, customer
from tests.support.engine import deploy, open_tasks
from tests.support.web import login
from web import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def service_request(ctx):
    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("service_request_*.json"))]
    deploy(ctx, *files)
    add_customers(ctx, customer("C1", date(1980, 5, 20), name="王小明", tier="gold", phone="13912345678"))
    return instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id="C1",
                                    business_key="SR-1")


def _task_id(page: str) -> str:
    return re.search(r'href="/inbox/tasks/([0-9a-f-]{36})"', page).group(1)


def test_claim_then_a_wrong_form_then_a_right_one(app, service_request):
    client, csrf = login(app, "alice")
    queue = client.get("/inbox?view=queue").get_data(as_text=True)
    task_id = _task_id(queue)
    page = client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert 'id="action-claim"' in page and 'id="action-complete"' not in page  # only what alice may do now
    assert "王*明" in page and "139****5678" in page and "13912345678" not in page
    assert client.post(f"/inbox/tasks/{task_id}/claim", data={"csrf_token": csrf}).status_code == 302
    page = client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert 'id="action-complete"' in page and 'id="action-unclaim"' in page
    wrong = client.post(f"/inbox/tasks/{task_id}/complete",
                        data={"csrf_token": csrf, "resolution": "", "amount": "-5"})
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 422
    assert re.search(r'data-field="resolution">.*?此项为必填项', body, re.S)
    assert re.search(r'data-field="amount">.*?value="-5".*?不能小于 0', body, re.S)  # what was typed stays
    english = client.post(f"/inbox/tasks/{task_id}/complete?lang=en",
                          data={"csrf_token": csrf, "resolution": "", "amount": "-5"}).get_data(as_text=True)
    assert re.search(r'data-field="resolution">.*?required', english, re.S) and "此项为必填项" not in english
    right = client.post(f"/inbox/tasks/{task_id}/complete",
                        data={"csrf_token": csrf, "resolution": "已补发卡片", "amount": "100", "resolved": "true"})
    assert right.status_code == 302
    assert instances.get_instance(app.extensions["careflow"], service_request.id, actor=SYSTEM).status == "completed"
    assert "已补发卡片" not in client.get("/inbox?view=mine").get_data(as_text=True)


def _form_js(page: str) -> dict:
    return json.loads(re.search(r'<script id="form-js-data" type="application/json">(.*?)</script>', page, re.S).group(1))


def test_the_task_page_hands_form_js_the_schema_values_and_messages(app, ctx, service_request):
    client, csrf = login(app, "alice")
    started = instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id="C1",
                                       variables={"channel": "phone", "amount": 300})
    [task_id] = [t.id for t in instances.get_instance(ctx, started.id, actor=SYSTEM).open_tasks]
    page = client.get(f"/inbox/tasks/{task_id}")
    assert "data:" in page.headers["Content-Security-Policy"]  # form-js's stylesheet draws with data: images
    html = page.get_data(as_text=True)
    assert "build/form-viewer-styles-" in html and "build/form-styles-" not in html  # not the editor's styles
    before = _form_js(html)
    assert before["readOnly"] is True  # not claimed yet: shown, not editable
    assert [c["key"] for c in before["schema"]["components"]] == ["resolution", "amount", "resolved"]
    assert before["messages"]["required"] == "此项为必填项" and before["errors"] == {}
    assert before["data"] == {"amount": 300}  # the form's own values; the process's other variables stay off the page
    assert client.get(f"/api/v1/tasks/{task_id}").get_json()["data"]["channel"] == "phone"  # … which the task holds
    client.post(f"/inbox/tasks/{task_id}/claim", data={"csrf_token": csrf})
    english = _form_js(client.get(f"/inbox/tasks/{task_id}?lang=en").get_data(as_text=True))
    assert english["readOnly"] is False
    assert english["schema"]["components"][0]["label"] == "Resolution"  # labels_en, like the server's fields
    assert english["messages"]["required"] == "This field is required"


def test_form_js_posts_json_and_the_server_checks_it_like_any_post(app, service_request):
    client, csrf = login(app, "alice")
    task_id = _task_id(client.get("/inbox?view=queue").get_data(as_text=True))
    client.post(f"/inbox/tasks/{task_id}/claim", data={"csrf_token": csrf})
    sent = {"resolution": "", "amount": -5, "resolved": False}
    wrong = client.post(f"/inbox/tasks/{task_id}/complete",
                        data={"csrf_token": csrf, "careflow_form_json": json.dumps(sent)})
    assert wrong.status_code == 422
    shown = _form_js(wrong.get_data(as_text=True))
    assert shown["data"] == sent  # form-js shows what was sent, with the server's messages by field
    assert shown["errors"]["resolution"] == ["此项为必填项"] and "不能小于 0" in shown["errors"]["amount"][0]
    for bad in ("[1, 2", "[]"):  # not JSON, not an object: said on the task page, nothing completed
        refused = client.post(f"/inbox/tasks/{task_id}/complete", data={"csrf_token": csrf, "careflow_form_json": bad})
        assert refused.status_code == 302
        assert '<p class="flash flash-error" role="alert">careflow_form_json: ' in client.get(
            f"/inbox/tasks/{task_id}").get_data(as_text=True)
    right = client.post(f"/inbox/tasks/{task_id}/complete", data={
        "csrf_token": csrf, "careflow_form_json": json.dumps({"resolution": "已补发卡片", "amount": 100, "resolved": True})})
    assert right.status_code == 302
    view = instances.get_instance(app.extensions["careflow"], service_request.id, actor=SYSTEM)
    assert view.status == "completed"


def test_choice_values_keep_their_type_through_the_html_form(app, ctx, service_request, people):
    client, csrf = login(app, "alice")
    task_id = _task_id(client.get("/inbox?view=queue").get_data(as_text=True))
    client.post(f"/inbox/tasks/{task_id}/claim", data={"csrf_token": csrf})
    client.post(f"/inbox/tasks/{task_id}/complete",
                data={"csrf_token": csrf, "resolution": "大额退款", "amount": "60000"})
    sup, sup_csrf = login(app, "sam")
    approve_id = _task_id(sup.get("/inbox?view=queue").get_data(as_text=True))
    sup.post(f"/inbox/tasks/{approve_id}/claim", data={"csrf_token": sup_csrf})
    page = sup.get(f"/inbox/tasks/{approve_id}").get_data(as_text=True)
    assert 'value="true"' in page and 'value="false"' in page  # radio options carry JSON booleans
    done = sup.post(f"/inbox/tasks/{approve_id}/complete", data={"csrf_token": sup_csrf, "approved": "true"})
    assert done.status_code == 302
    assert instances.get_instance(ctx, service_request.id, actor=SYSTEM).status == "completed"


def test_staff_outside_the_group_see_nothing_and_posts_need_csrf(app, service_request):
    client, csrf = login(app, "carol")  # branch_team, not service_team
    assert "/inbox/tasks/" not in client.get("/inbox?view=queue").get_data(as_text=True)
    alice, alice_csrf = login(app, "alice")
    task_id = _task_id(alice.get("/inbox?view=queue").get_data(as_text=True))
    assert client.get(f"/inbox/tasks/{task_id}").status_code == 403
    assert alice.post(f"/inbox/tasks/{task_id}/claim", data={}).status_code == 400  # no CSRF token
    assert client.get("/supervisor").status_code == 403


def test_overdue_tasks_show_their_breach_on_the_inbox_and_the_supervisor_desk(app, ctx, clock, service_request):
    clock.advance(timedelta(days=3))  # handle_request is due in P2D
    sup, _ = login(app, "sam")
    inbox = sup.get("/inbox?view=all&overdue=1").get_data(as_text=True)
    assert "已逾期" in inbox and "处理请求" in inbox and "Handle request" not in inbox  # one language per page
    desk = sup.get("/supervisor").get_data(as_text=True)
    assert re.search(r'id="workload">.*?队列中.*?badge breach">1<', desk, re.S)
    alice, _ = login(app, "alice")
    task_id = _task_id(alice.get("/inbox?view=queue").get_data(as_text=True))
    assert 'id="sla-breach"' in alice.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)


def test_comments_attachments_and_delegation_on_the_task_page(app, service_request):
    alice, csrf = login(app, "alice")
    task_id = _task_id(alice.get("/inbox?view=queue").get_data(as_text=True))
    alice.post(f"/inbox/tasks/{task_id}/claim", data={"csrf_token": csrf})
    alice.post(f"/inbox/tasks/{task_id}/comment", data={"csrf_token": csrf, "text": "已致电客户核实"})
    upload = alice.post(f"/inbox/tasks/{task_id}/attach", content_type="multipart/form-data",
                        data={"csrf_token": csrf, "file": (io.BytesIO(b"%PDF-1.4 receipt"), "回单.pdf")})
    assert upload.status_code == 302
    page = alice.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert "已致电客户核实" in page and "回单.pdf" in page
    link = re.search(r'href="(/inbox/attachments/\d+)"', page).group(1)
    download = alice.get(link)
    assert download.data == b"%PDF-1.4 receipt" and download.headers["Content-Disposition"].startswith("attachment;")
    refused = alice.post(f"/inbox/tasks/{task_id}/attach", content_type="multipart/form-data",
                         data={"csrf_token": csrf, "file": (io.BytesIO(b"MZ\x90"), "tool.exe")})
    assert refused.status_code == 302 and "allowed file types" in alice.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    alice.post(f"/inbox/tasks/{task_id}/delegate", data={"csrf_token": csrf, "to": "bob"})
    bob, bob_csrf = login(app, "bob")
    page = bob.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    assert 'id="action-resolve"' in page and 'id="action-complete"' not in page and "委派自 alice" in page
    bob.post(f"/inbox/tasks/{task_id}/resolve", data={"csrf_token": bob_csrf})
    assert 'id="action-complete"' in alice.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)


def test_signing_in_lands_on_the_inbox(app):
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": "alice", "password": "correct horse 1", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox")


def test_the_api_accepts_the_browser_session_with_its_csrf_header(app, service_request):
    client, csrf = login(app, "alice")
    queue = client.get("/api/v1/tasks?view=queue")
    assert queue.status_code == 200 and len(queue.json["items"]) == 1
    task_id = queue.json["items"][0]["id"]
    refused = client.post(f"/api/v1/tasks/{task_id}/claim")
    assert refused.status_code == 401 and "X-CSRF-Token" in refused.json["error"]["message"]
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers={"X-CSRF-Token": csrf}).json["assignee"] == "alice"
    assert 'name="csrf-token"' in client.get("/inbox").get_data(as_text=True)


def test_the_queue_filters_by_priority_due_day_and_follow_up_sorts_and_counts(app, ctx, clock, people):
    deploy(ctx, ("plain.bpmn", b.linear("plain", b.user_task("call", "Call back", candidateGroups="service_team"))))
    now = clock.now()  # 2025-03-03 09:00 in Shanghai
    made = {}
    for name, priority, due, follow_up in [("low", 30, timedelta(hours=10), None),  # 19:00 today
                                           ("high", 80, timedelta(days=3), timedelta(hours=-1)),
                                           ("urgent", 95, timedelta(days=10), timedelta(days=1))]:
        started = instances.start_instance(ctx, process_key="plain", actor=SYSTEM, business_key=name)
        [task] = open_tasks(ctx, started.id)
        tasks.update_task(ctx, task.id, actor=people["sam"], priority=priority, due_at=now + due,
                          follow_up_at=now + follow_up if follow_up else None)
        made[task.id] = name
        clock.advance(timedelta(minutes=1))
    client, _ = login(app, "alice")

    def shown(query: str) -> list[str]:
        page = client.get(f"/inbox?view=queue&{query}").get_data(as_text=True)
        return [made[t] for t in re.findall(r'data-task="([0-9a-f-]{36})"', page)]

    assert shown("") == ["low", "high", "urgent"]
    assert shown("priority=70") == ["high", "urgent"] and shown("priority=90") == ["urgent"]
    assert shown("due=today") == ["low"] and shown("due=week") == ["low", "high"]
    assert shown("follow_up=1") == ["high"]
    assert shown("sort=priority") == ["urgent", "high", "low"]
    assert shown("sort=due&priority=70") == ["high", "urgent"]
    page = client.get("/inbox?view=queue&priority=70").get_data(as_text=True)
    assert re.search(r'data-view="queue"[^>]*>[^<]*<span class="badge" data-count="2">2</span>', page)
    assert re.search(r'data-view="mine"[^>]*>[^<]*<span class="badge" data-count="0">0</span>', page)
    assert 'name="sort"' not in client.get("/inbox?view=archive").get_data(as_text=True)
    api = client.get("/api/v1/tasks?view=queue&sort=due&count=1&due_before=2025-03-06T23:59:59%2B08:00").get_json()
    assert [made[t["id"]] for t in api["items"]] == ["low", "high"] and (api["count"], api["count_capped"]) == (2, False)
    refused = client.get("/api/v1/tasks?view=queue&due_before=2025-03-06")
    assert refused.status_code == 400 and "offset" in refused.get_json()["error"]["message"]
