"""The REST API over the engine services, with token auth and the error contract."""

from __future__ import annotations

import io
import json

import pytest

from engine.services import identity
from tests.support import bpmn as b
from web import create_app

FORM = {"id": "answer", "type": "default",
        "components": [{"type": "textfield", "key": "answer", "validate": {"required": True}}]}


@pytest.fixture
def client(ctx, people):
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    return app.test_client()


@pytest.fixture
def tokens(ctx, people):
    return {name: {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"} for name in people}


def _deploy(client, tokens):
    xml = b.linear("api_flow", b.user_task("write", formKey="answer", candidateGroups="service_team"))
    files = [{"filename": "api_flow.bpmn", "content": xml.decode()},
             {"filename": "answer.json", "content": json.dumps(FORM)}]
    return client.post("/api/v1/definitions", json={"files": files}, headers=tokens["dora"])


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok" and response.json["database"] == "ok"
    assert response.json["scheduler"]["status"] == "unknown"  # no scheduler ever ran against this database
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_requests_without_a_valid_token_are_refused(client):
    assert client.get("/api/v1/tasks").status_code == 401
    response = client.get("/api/v1/tasks", headers={"Authorization": "Bearer cf_nope"})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthenticated"


def test_full_lifecycle_over_http(client, tokens):
    deployed = _deploy(client, tokens)
    assert deployed.status_code == 201 and deployed.json == {"key": "api_flow", "version": 1, "created": True}
    assert _deploy(client, tokens).status_code == 200  # identical bytes: unchanged
    started = client.post("/api/v1/instances", json={"process_key": "api_flow", "business_key": "B-1",
                                                     "variables": {"channel": "phone"}}, headers=tokens["alice"])
    assert started.status_code == 201 and started.json["status"] == "running"
    duplicate = client.post("/api/v1/instances", json={"process_key": "api_flow", "business_key": "B-1"},
                            headers=tokens["alice"])
    assert duplicate.status_code == 409 and duplicate.json["error"]["code"] == "duplicate_business_key"
    queue = client.get("/api/v1/tasks?view=queue", headers=tokens["alice"]).json["items"]
    [task] = queue
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=tokens["alice"]).json
    assert detail["form"]["id"] == "answer" and detail["data"] == {"channel": "phone"}
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=tokens["alice"]).status_code == 200
    again = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=tokens["bob"])
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_transition"
    bad = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {}}, headers=tokens["alice"])
    assert bad.status_code == 422 and "answer" in bad.json["error"]["details"]["fields"]
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"answer": "好"}},
                       headers=tokens["alice"])
    assert done.status_code == 200 and done.json["status"] == "completed"
    instance = client.get(f"/api/v1/instances/{started.json['id']}", headers=tokens["sam"]).json
    assert instance["status"] == "completed"
    assert [h["action"] for h in instance["history"]] == ["instance.started", "task.claim", "task.complete"]


def test_bad_definition_is_a_422_with_problems(client, tokens):
    files = [{"filename": "bad.bpmn", "content": "<bpmn:definitions"}]
    response = client.post("/api/v1/definitions", json={"files": files}, headers=tokens["dora"])
    assert response.status_code == 422
    [problem] = response.json["error"]["details"]["problems"]
    assert problem["file"] == "bad.bpmn" and problem["line"] == 1


def test_multipart_upload_and_validate_only(client, tokens):
    xml = b.simple_task_process("uploaded")
    data = {"file": (io.BytesIO(xml), "uploaded.bpmn")}
    response = client.post("/api/v1/definitions?validate_only=1", data=data, headers=tokens["dora"],
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.json == {"valid": True}
    assert client.get("/api/v1/definitions", headers=tokens["dora"]).json["items"] == []


@pytest.mark.parametrize(("who", "status"), [("alice", 403), ("dora", 201)])
def test_only_designers_deploy_over_http(client, tokens, who, status):
    files = [{"filename": "s.bpmn", "content": b.simple_task_process().decode()}]
    assert client.post("/api/v1/definitions", json={"files": files}, headers=tokens[who]).status_code == status


def test_messages_and_input_errors(client, tokens):
    response = client.post("/api/v1/messages", json={"name": "x"}, headers=tokens["alice"])
    assert response.status_code == 400 and "message_id" in response.json["error"]["details"]["fields"]
    response = client.post("/api/v1/messages", json={"name": "x", "message_id": "1"}, headers=tokens["alice"])
    assert response.status_code == 403 and response.json["error"]["details"]["resource"] == "message:x"  # no grant
    response = client.post("/api/v1/messages", json={"name": "x", "message_id": "1"}, headers=tokens["sam"])
    assert response.status_code == 409 and response.json["error"]["code"] == "message_not_correlated"
    assert client.get("/api/v1/instances/nope", headers=tokens["alice"]).status_code == 400
    assert client.get("/api/v1/tasks?view=bogus", headers=tokens["alice"]).status_code == 400
    assert client.get("/api/v1/nothing", headers=tokens["alice"]).status_code == 404


def test_nul_characters_are_refused_wherever_they_come(client, tokens):
    """PostgreSQL text cannot hold NUL: a 400 naming it, from the JSON body, the query, a form field or a
    file name; a bearer call gets no session cookie back."""
    refused = [
        client.post("/api/v1/instances", json={"process_key": "a\x00b"}, headers=tokens["alice"]),
        client.post("/api/v1/instances", json={"process_key": "p", "variables": {"k": ["x\x00"]}},
                    headers=tokens["alice"]),
        client.get("/api/v1/tasks?q=a%00b", headers=tokens["alice"]),
        client.post("/api/v1/definitions", data={"process_key": "a\x00"}, headers=tokens["dora"]),
        client.post("/api/v1/definitions", data={"file": (io.BytesIO(b"<x/>"), "a\x00.bpmn")},
                    headers=tokens["dora"]),
    ]
    for response in refused:
        assert response.status_code == 400 and "NUL" in response.json["error"]["message"]
        assert "Set-Cookie" not in response.headers
    # The text backslash-u-0000 is not a NUL: this start is refused for its unknown process, not for a NUL.
    literal = client.post("/api/v1/instances", json={"process_key": "p", "variables": {"path": "C:\\u0000"}},
                          headers=tokens["alice"])
    assert literal.status_code == 404 and "NUL" not in literal.json["error"]["message"]


def test_login_page_and_home_show_processes_and_tasks(client, tokens):
    _deploy(client, tokens)
    client.post("/api/v1/instances", json={"process_key": "api_flow"}, headers=tokens["alice"])
    assert client.get("/").status_code == 302
    page = client.get("/login")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/login", data={"username": "alice", "password": "wrong pass",
                                       "csrf_token": token}).status_code == 401
    assert client.post("/login", data={"username": "alice", "password": "correct horse 1"}).status_code == 400
    response = client.post("/login", data={"username": "alice", "password": "correct horse 1", "csrf_token": token})
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "api_flow" in home and "write" in home
