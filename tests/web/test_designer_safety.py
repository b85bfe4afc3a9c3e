"""The designer's safety endpoints over HTTP: deploy summary and confirmed deploy, test run, handler catalogue,
suspend/retire/resume, discarding drafts — designers allowed, staff refused, malformed input a 4xx."""

from __future__ import annotations

import pytest

from engine.services import designer, identity, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy
from tests.support.web import login
from web import create_app

GROUP = {"candidateGroups": "service_team"}
V1 = b.linear("req", b.user_task("write", "写", **GROUP)).decode()
V2 = b.linear("req", b.user_task("write", "写", **GROUP), b.user_task("check", "查", **GROUP)).decode()


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def token(ctx, people):
    return lambda name: {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"}


def test_deploy_summary_and_confirmed_deploy(app, token, ctx):
    deploy(ctx, ("req.bpmn", V1.encode()))
    instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    client, dora = app.test_client(), token("dora")
    preview = client.post("/api/v1/designer/deploy/preview", json={"xml": V2}, headers=dora)
    assert preview.status_code == 200
    body = preview.json
    assert (body["live_version"], body["next_version"], body["live_instances"], body["needs_approval"]) == (1, 2, 1, True)
    assert [c["element_id"] for c in body["diff"]["added"] if c["element_id"] == "check"] == ["check"]
    assert body["migration"][0]["compatible"] is True
    stale = client.post("/api/v1/designer/deploy", json={"xml": V2.replace("查", "核"),
                                                         "confirmation": body["confirmation"]}, headers=dora)
    assert stale.status_code == 409 and stale.json["error"]["code"] == "confirmation_stale"
    asked = client.post("/api/v1/designer/deploy", json={"xml": V2, "confirmation": body["confirmation"]}, headers=dora)
    assert asked.status_code == 202 and asked.json["approval_id"]
    assert client.post("/api/v1/designer/deploy/preview", json={"xml": V2}, headers=token("alice")).status_code == 403
    assert client.post("/api/v1/designer/deploy/preview", json={"xml": "<nope/>"}, headers=dora).status_code == 422
    assert client.post("/api/v1/designer/deploy/preview", json={}, headers=dora).status_code == 400
    assert client.post("/api/v1/designer/deploy", json={"xml": V2, "confirmation": ""}, headers=dora).status_code == 400


def test_trial_run_over_http(app, token):
    client, dora = app.test_client(), token("dora")
    run = client.post("/api/v1/designer/trial-run", json={"xml": V2, "variables": {"amount": 1},
                                                          "answers": {"write": {"text": "hi"}}}, headers=dora)
    assert run.status_code == 200
    assert run.json["status"] == "completed" and run.json["path"] == ["start", "write", "check", "end"]
    assert run.json["variables"]["text"] == "hi" and run.json["variables"]["amount"] == 1
    assert client.post("/api/v1/designer/trial-run", json={"xml": V2}, headers=token("alice")).status_code == 403
    assert client.post("/api/v1/designer/trial-run", json={"xml": V2, "answers": {"write": 3}},
                       headers=dora).status_code == 400
    assert client.post("/api/v1/designer/trial-run", json={"xml": V2, "variables": [1]}, headers=dora).status_code == 400
    assert client.post("/api/v1/designer/trial-run", json={"xml": "<x/>"}, headers=dora).status_code == 422


def test_handler_catalogue_api_and_page(app, token):
    client = app.test_client()
    items = client.get("/api/v1/designer/handlers?process=complaint_handling", headers=token("dora")).json["items"]
    record = next(i for i in items if i["name"] == "careflow.complaint.record")
    assert record["allowed"] and record["processes"] == ["complaint_handling"]
    assert any(p["name"] == "case_no" and p["required"] for p in record["params"])
    assert client.get("/api/v1/designer/handlers", headers=token("alice")).status_code == 403
    assert client.get("/api/v1/designer/handlers?process=bad-key", headers=token("dora")).status_code == 400
    session, _ = login(app, "dora")
    page = session.get("/designer/handlers").get_data(as_text=True)
    assert 'data-handler="careflow.complaint.record"' in page and "投诉" in page and "Record a complaint" not in page
    english = session.get("/designer/handlers?lang=en").get_data(as_text=True)
    assert "Record a complaint case event" in english and "记录投诉" not in english
    staff, _ = login(app, "alice")
    assert staff.get("/designer/handlers").status_code == 403


def test_suspend_retire_resume_over_api_and_page(app, token, ctx):
    deploy(ctx, ("req.bpmn", V1.encode()))
    client, dora = app.test_client(), token("dora")
    assert client.post("/api/v1/definitions/req/versions/1/suspend", headers=token("alice")).status_code == 403
    assert client.post("/api/v1/definitions/req/versions/1/suspend", headers=token("sam")).status_code == 403
    suspended = client.post("/api/v1/definitions/req/versions/1/suspend", headers=dora)
    assert suspended.status_code == 200 and suspended.json["status"] == "suspended"
    refused = client.post("/api/v1/instances", json={"process_key": "req"}, headers=dora)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "definition_suspended"
    assert "suspended" in refused.json["error"]["message"]
    assert client.post("/api/v1/definitions/req/versions/9/suspend", headers=dora).status_code == 404
    assert client.post("/api/v1/definitions/req/versions/1/resume", headers=dora).json["status"] == "active"
    instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    busy = client.post("/api/v1/definitions/req/versions/1/retire", headers=dora)
    assert busy.status_code == 409 and busy.json["error"]["details"] == {"live_instances": 1}

    session, csrf = login(app, "dora")
    page = session.get("/designer/processes/req").get_data(as_text=True)
    assert 'data-status="active"' in page and "正常" in page
    done = session.post("/designer/processes/req/versions/1/status", data={"action": "suspend", "csrf_token": csrf})
    assert done.status_code == 303
    page = session.get("/designer/processes/req").get_data(as_text=True)
    assert 'data-status="suspended"' in page and "已暂停" in page and 'value="resume"' in page
    started = session.post("/designer/processes/req/start", data={"version": "1", "csrf_token": csrf},
                           follow_redirects=True).get_data(as_text=True)
    assert "已暂停" in started or "suspended" in started
    assert session.post("/designer/processes/req/versions/1/status", data={"action": "explode", "csrf_token": csrf}
                        ).status_code == 400
    assert session.post("/designer/processes/req/versions/1/status", data={"action": "suspend"}).status_code == 400
    supervisor, sam_csrf = login(app, "sam")
    assert supervisor.post("/designer/processes/req/versions/1/status",
                           data={"action": "resume", "csrf_token": sam_csrf}).status_code == 403
    staff, staff_csrf = login(app, "alice")
    assert staff.post("/designer/processes/req/versions/1/status",
                      data={"action": "resume", "csrf_token": staff_csrf}).status_code == 403


def test_discarding_a_draft_from_the_index(app, ctx, people):
    designer.save_draft(ctx, kind="process", name="req", content=V1, actor=people["dora"])
    session, csrf = login(app, "dora")
    index = session.get("/designer").get_data(as_text=True)
    assert 'data-draft="process:req"' in index and "discard-draft" in index
    assert session.post("/designer/drafts/process/req/discard", data={"csrf_token": csrf}).status_code == 303
    assert 'data-draft="process:req"' not in session.get("/designer").get_data(as_text=True)
    assert session.post("/designer/drafts/process/req/discard", data={"csrf_token": csrf}).status_code == 404
    supervisor, sam_csrf = login(app, "sam")
    assert supervisor.post("/designer/drafts/form/x/discard", data={"csrf_token": sam_csrf}).status_code == 403
