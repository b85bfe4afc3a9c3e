"""Finding 7: hostile request bodies answer 4xx with a message, never a 500 (and nothing half-stored).

A 50,000-deep JSON body, a lone UTF-16 surrogate (``"\\ud800"``, which JSON can spell but UTF-8 cannot store), invalid
UTF-8 bytes and a variables tree deeper than the serializer can walk must each be refused where they come in: before
authentication for the shape of the body, at the engine's service boundary for what the CLI and web both pass on.
"""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidInputError
from engine.services import collaboration, identity, instances, tasks
from tests.support import bpmn as b
from web import create_app

DEEP = 50_000


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def alice(ctx, people):
    return {"Authorization": f"Bearer {identity.create_token(ctx, username='alice')}"}


@pytest.fixture
def flow(ctx, people):
    from engine.bpmn.loader import SourceFile
    from engine.services import definitions

    xml = b.linear("limits_flow", b.user_task("write", candidateGroups="service_team"))
    definitions.deploy_definition(ctx, files=[SourceFile("limits_flow.bpmn", xml)], actor=people["dora"])
    return "limits_flow"


def _deep(depth: int, leaf: str = "1") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


def _refused(response, *codes: int) -> None:
    assert response.status_code in (codes or (400, 413, 422)), (response.status_code, response.data[:300])
    assert response.is_json and response.json["error"]["message"], response.data[:300]


def test_a_50000_deep_body_is_refused_with_a_message_when_logged_in(client, alice, flow):
    body = b'{"process_key": "limits_flow", "variables": {"x": ' + _deep(DEEP) + b"}}"
    _refused(client.post("/api/v1/instances", data=body, content_type="application/json", headers=alice))


def test_a_50000_deep_body_with_a_nul_is_refused_before_login(client):
    body = _deep(DEEP, '"\\u0000"')
    _refused(client.post("/api/v1/instances", data=body, content_type="application/json"))


@pytest.mark.parametrize("path", ["/api/v1/instances", "/api/v1/messages", "/api/v1/complaints",
                                  "/api/v1/tasks/x/comments"])
def test_deep_bodies_are_refused_on_any_route_before_authentication(client, path):
    _refused(client.post(path, data=_deep(DEEP), content_type="application/json"))


def test_a_lone_surrogate_in_a_comment_is_refused(ctx, client, alice, flow, people):
    instances.start_instance(ctx, process_key=flow, actor=people["alice"])
    [task] = tasks.list_tasks(ctx, actor=people["alice"], view="queue").items
    body = b'{"text": "hello \\ud800 world"}'
    _refused(client.post(f"/api/v1/tasks/{task.id}/comments", data=body, content_type="application/json",
                         headers=alice))
    assert collaboration.list_comments(ctx, task.id, actor=people["alice"]) == []


def test_a_lone_surrogate_in_start_variables_is_refused_and_leaves_no_broken_task(ctx, client, alice, flow, people):
    body = b'{"process_key": "limits_flow", "variables": {"note": "\\udfff"}}'
    _refused(client.post("/api/v1/instances", data=body, content_type="application/json", headers=alice))
    assert tasks.list_tasks(ctx, actor=people["alice"], view="queue").items == []


def test_invalid_utf8_in_a_json_body_is_refused(client, alice, flow):
    body = b'{"process_key": "limits_flow", "variables": {"note": "\xff\xfe"}}'
    _refused(client.post("/api/v1/instances", data=body, content_type="application/json", headers=alice))


def test_invalid_utf8_in_a_form_field_is_refused(client, alice, flow):
    response = client.post("/api/v1/definitions", data=b"process_key=%ff%fe", headers=alice,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code < 500, response.data[:300]


def test_an_instance_started_with_900_levels_of_variables_is_not_a_500(client, alice, flow):
    nested: object = 1
    for _ in range(900):
        nested = {"a": nested}
    body = json.dumps({"process_key": "limits_flow", "variables": {"x": nested}})
    response = client.post("/api/v1/instances", data=body, content_type="application/json", headers=alice)
    _refused(response)


def test_a_body_over_the_size_limit_is_413_with_a_message(app, client, alice):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    _refused(client.post("/api/v1/instances", data=b'{"x": "' + b"a" * 2000 + b'"}', content_type="application/json",
                         headers=alice), 413)


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("variables", [{"x": "\ud800"}, {"\udc00": 1}, {"x": _nested(100)}])
def test_the_engine_refuses_bad_variables_for_every_caller(ctx, flow, people, variables):
    with pytest.raises(InvalidInputError):
        instances.start_instance(ctx, process_key=flow, actor=people["alice"], variables=variables)


def test_the_engine_refuses_a_comment_with_a_lone_surrogate(ctx, flow, people):
    instances.start_instance(ctx, process_key=flow, actor=people["alice"])
    [task] = tasks.list_tasks(ctx, actor=people["alice"], view="queue").items
    with pytest.raises(InvalidInputError):
        collaboration.add_comment(ctx, task.id, actor=people["alice"], text="bad \udbff")


def test_a_page_opened_with_an_api_token_is_a_401_not_a_500(client, alice):
    """Found by tests/security/test_fuzz.py: flask-login flashed into the token caller's null session."""
    response = client.get("/inbox", headers=alice)
    assert response.status_code == 401 and "session" in response.json["error"]["message"]


def test_deep_json_in_a_form_field_is_refused_on_the_pages(app, ctx, flow, people):
    """form-js posts its data as JSON in a form field, and a supervisor's corrected data is JSON text too."""
    from tests.support.web import login

    instances.start_instance(ctx, process_key=flow, actor=people["alice"])
    [task] = tasks.list_tasks(ctx, actor=people["alice"], view="queue").items
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    client, csrf = login(app, "alice")
    deep = "[" * DEEP + "]" * DEEP
    response = client.post(f"/inbox/tasks/{task.id}/complete", data={"csrf_token": csrf, "careflow_form_json": deep})
    assert response.status_code < 500
    assert tasks.get_task(ctx, task.id, actor=people["alice"]).status != "completed"
    boss, boss_csrf = login(app, "sam")
    answer = boss.post(f"/supervisor/instances/{task.instance_id}/retry", data={"csrf_token": boss_csrf, "patch": deep})
    assert answer.status_code < 500


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def test_every_engine_error_about_what_was_sent_is_a_4xx():
    """Only the server's configuration or stored data (500) and an outside system (502) may answer 5xx; a process that cannot
    run on the data it was given, or a script the sandbox refuses, is the caller's to fix (422)."""
    from engine import errors
    from engine.privacy import CiphertextMismatchError
    from web.errors import status_for

    # Stored data that fails its authentication (tampered, or moved between rows) is the server's problem, not the
    # caller's: 500, and logged (web.errors).
    server_side = {errors.ConfigurationError: 500, errors.IntegrationError: 502, CiphertextMismatchError: 500}
    for cls in _subclasses(errors.EngineError)[1:]:
        error = cls.__new__(cls)
        expected = next((code for base, code in server_side.items() if issubclass(cls, base)), None)
        if expected is not None:
            assert status_for(error) == expected, cls
        else:
            assert 400 <= status_for(error) < 500, cls
