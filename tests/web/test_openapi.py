"""The OpenAPI document: valid, complete against the registered routes, and a schemathesis run over the real app."""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from engine.outbox.models import OutboxMessage
from engine.services import collaboration, identity, instances, tasks
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks
from web import create_app
from web.openapi import api_rules, openapi_path, rule_methods

FORM = {"id": "answer", "type": "default",
        "components": [{"type": "textfield", "key": "answer", "validate": {"required": True}}]}


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def document(app) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_served_without_a_token_and_built_once(app, document):
    assert document["openapi"] == "3.0.3"
    second = app.test_client().get("/api/v1/openapi.json").json
    assert second == document
    assert app.extensions["careflow.openapi"] is app.extensions["careflow.openapi"]  # cached on the app
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_the_document_is_valid_openapi(app, document):
    schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).validate()  # the OpenAPI 3.0 meta-schema (jsonschema-rs)
    broken = json.loads(json.dumps(document))
    broken["paths"]["/api/v1/tasks"]["get"]["responses"] = "nope"
    with pytest.raises(Exception, match="nope"):
        schemathesis.openapi.from_dict(broken).validate()  # the validator does bite


def test_every_api_route_is_documented_and_nothing_else(app, document):
    registered = {(openapi_path(rule), method) for rule in api_rules(app) for method in rule_methods(rule)}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert registered == documented
    assert {"/api/v1/tasks/{task_id}/claim", "/api/v1/outbox/{message_id}/retry"} <= {p for p, _ in registered}


def test_operations_document_errors_security_and_parameters(document):
    paths = document["paths"]
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "browserSession": {"type": "apiKey", "in": "cookie", "name": "session"}}
    assert document["security"] == [{"bearerAuth": []}, {"browserSession": []}]
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(document["components"]["schemas"]["ErrorBody"]["required"]) == {"code", "message", "details"}
    for status in (400, 401, 403, 404, 409, 422):
        assert document["components"]["responses"][f"Error{status}"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"}
    for path, ops in paths.items():
        for method, op in ops.items():
            if path != "/api/v1/openapi.json":
                assert "401" in op["responses"], (method, path)
            for name in [s[1:-1] for s in path.split("/") if s.startswith("{")]:
                assert any(p["in"] == "path" and p["name"] == name and p["required"] for p in op["parameters"])

    def params(path: str, method: str = "get") -> dict[str, dict[str, Any]]:
        return {p["name"]: p["schema"] for p in paths[path][method]["parameters"]}

    assert params("/api/v1/tasks/{task_id}")["task_id"] == {"type": "string", "format": "uuid"}
    assert params("/api/v1/instances/{instance_id}/cancel", "post")["instance_id"]["format"] == "uuid"
    assert params("/api/v1/outbox/{message_id}/retry", "post")["message_id"]["type"] == "integer"
    tasks = params("/api/v1/tasks")
    assert set(tasks) == {"view", "process", "customer", "overdue", "q", "priority_min", "due_before",
                          "follow_up_before", "sort", "count", "limit", "cursor"}
    assert tasks["view"]["enum"] == ["mine", "queue", "archive", "all"]
    assert tasks["sort"]["enum"] == ["created", "due", "priority"] and tasks["due_before"]["format"] == "date-time"
    outbox = params("/api/v1/outbox")
    assert set(outbox) == {"status", "limit", "before_id"}
    assert outbox["status"]["enum"] == ["pending", "sending", "sent", "suppressed", "dead", "held"]
    assert paths["/api/v1/instances"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StartInstance"}
    assert paths["/api/v1/tasks/{task_id}/complete"]["post"]["responses"]["422"] == {
        "$ref": "#/components/responses/Error422"}
    assert paths["/api/v1/messages"]["post"]["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageResult"}


# --- schemathesis over the real app -------------------------------------------------------------------------------


def _seed(ctx, people, clock) -> dict[str, list[Any]]:
    """Something for the generated requests to hit: two processes, open and claimed tasks, a dead letter."""
    deploy(ctx, ("simple.bpmn", b.simple_task_process("simple")))
    deploy(ctx, ("api_flow.bpmn", b.linear("api_flow", b.user_task("write", formKey="answer",
                                                                     candidateGroups="service_team"))),
           ("answer.json", json.dumps(FORM).encode()))
    instance_ids, task_ids = [], []
    for n, key in enumerate(["simple", "simple", "api_flow", "api_flow"]):
        view = instances.start_instance(ctx, process_key=key, actor=people["alice"], business_key=f"B-{n}",
                                        variables={"channel": "phone"})
        instance_ids.append(view.id)
        task_ids.extend(t.id for t in open_tasks(ctx, view.id))
    tasks.claim_task(ctx, task_ids[0], actor=people["root"])
    now = clock.now()
    with ctx.sessions.begin() as session:
        row = OutboxMessage(idempotency_key="seed-dead", channel="sms", purpose="care", template="birthday", params={},
                            status="dead", status_reason="retries_exhausted", attempts=6, next_attempt_at=now,
                            created_at=now - timedelta(days=1), finished_at=now, last_error="gateway busy")
        session.add(row)
        session.flush()
        outbox_ids = [row.id]
    attachment = collaboration.add_attachment(ctx, task_ids[1], actor=people["alice"], filename="note.txt",
                                              content="客户补充材料".encode())
    from tests.support.care import add_customers, customer

    add_customers(ctx, customer("F1", manager="alice", email="f1@example.cn"))
    from engine.complaints.service import ComplaintInput, submit_complaint
    from tests.support.portal import deploy_complaints

    deploy_complaints(ctx)
    case, _ = submit_complaint(ctx, ComplaintInput(channel="phone", business_type="loans", cause="other",
                                                   summary="还款提醒不及时", customer_id="F1"), actor=people["alice"])
    from engine.services import grants

    approval = grants.request_grant(ctx, grants.parse("user:alice", "customer", "branch:朝阳支行", "read"),
                                    actor=people["root"])
    grant_ids = [g.id for g in grants.list_grants(ctx, actor=people["root"])][:3]
    return {"instance_id": instance_ids, "task_id": task_ids, "message_id": outbox_ids, "key": ["simple", "api_flow"],
            "attachment_id": [attachment.id], "customer_id": ["F1"], "case_no": [case.case_no],
            "kind": ["process", "form"], "name": ["simple"], "form_id": ["answer"], "version": [1],
            "approval_id": [approval.id], "grant_id": grant_ids}


# CAREFLOW_FUZZ_EXAMPLES=500 explores further with fresh randomness; the default is a bounded, repeatable run.
EXAMPLES = int(os.environ.get("CAREFLOW_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 25, deadline=None, derandomize=EXAMPLES is None, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink])


def test_schemathesis_finds_no_server_errors(app, ctx, people, clock):
    known = _seed(ctx, people, clock)
    token = identity.create_token(ctx, username="root")
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = [p.name for p in operation.path_parameters]
        strategies = [operation.as_strategy(mode, headers=auth) for mode in (GenerationMode.POSITIVE,
                                                                              GenerationMode.NEGATIVE)]
        if names:  # half of the cases address things that exist
            strategies.append(st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names}).flatmap(
                lambda fixed, op=operation: op.as_strategy(headers=auth, path_parameters=fixed)))

        @FUZZ
        @given(case=st.one_of(strategies))
        def run(case: schemathesis.Case) -> None:
            response = case.call()
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert sum(n for code, n in statuses.items() if 200 <= code < 300) >= 20, statuses
    assert statuses[401] == 0, statuses
