"""The modeler's validate call (POST /api/v1/designer/deploy?validate_only=1): every problem a deploy would meet,
located and graded, in the page's language; warnings alone are a 200 that still lists them; nothing is stored."""

from __future__ import annotations

import pytest

from engine.services import definitions, identity
from tests.support import bpmn as b
from web import create_app

BROKEN = b.definitions(
    "broken",
    [b.start(), b.user_task("review", candidateGroups="service_teem", priority="500", dueIn="three days",
                            excludeUser="performers.get('x')"),
     b.user_task("orphan", candidateGroups="service_team"), b.end()],
    [b.flow("start", "review"), b.flow("review", "end")])


@pytest.fixture
def client(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


@pytest.fixture
def dora(ctx, people):
    return {"Authorization": f"Bearer {identity.create_token(ctx, username='dora')}"}


def _validate(client, headers, xml: bytes, lang: str | None = None):
    query = "?validate_only=1" + (f"&lang={lang}" if lang else "")
    return client.post(f"/api/v1/designer/deploy{query}", json={"xml": xml.decode()}, headers=headers)


def test_a_broken_diagram_lists_every_problem_located_and_graded(client, dora, ctx):
    response = _validate(client, dora, BROKEN, "en")
    assert response.status_code == 422
    found = {(p["element_id"], p["severity"], p["message"]) for p in response.json["error"]["details"]["problems"]}
    assert found == {
        ("review", "error", "unknown CareFlow property 'excludeUser'; did you mean excludeUsers?"),
        ("orphan", "error", "userTask 'orphan' has no incoming sequence flow: it can never be reached"),
        ("orphan", "error", "userTask 'orphan' has no outgoing sequence flow; end the path with an end event"),
        ("review", "error", "dueIn 'three days' is not an ISO 8601 duration (e.g. P3D, PT4H): it must start with P "
                            "and give an amount"),
        ("review", "error", "priority 500 is out of range 0–100"),
        ("review", "warning", "candidate group 'service_teem' does not exist; did you mean service_team?"),
    }
    assert all(p["file"] == "broken.bpmn" and p["line"] == 3 for p in response.json["error"]["details"]["problems"])
    assert definitions.list_definitions(ctx) == []


def test_problems_speak_chinese_by_default(client, dora):
    problems = _validate(client, dora, BROKEN).json["error"]["details"]["problems"]
    messages = {p["code"]: p["message"] for p in problems}
    assert messages["priority_range"] == "优先级 500 超出范围 0–100"
    assert messages["unknown_property"] == "未知的 CareFlow 扩展属性“excludeUser”；是否应为 excludeUsers？"


def test_warnings_alone_are_valid_and_listed(client, dora, ctx):
    xml = b.linear("fine", b.user_task("review", candidateGroups="night_team"))
    response = _validate(client, dora, xml, "en")
    assert response.status_code == 200 and response.json["valid"] is True
    assert [(p["element_id"], p["severity"], p["code"]) for p in response.json["problems"]] == [
        ("review", "warning", "group_unknown")]
    assert _validate(client, dora, b.linear("fine", b.user_task("review", candidateGroups="service_team"))).json == {
        "valid": True, "problems": []}
    assert definitions.list_definitions(ctx) == []


def test_the_web_catalogue_has_every_engine_text_word_for_word(client):
    from engine.bpmn.validation import TEXTS
    from web.problem_text import TEXTS as SHOWN

    with client.application.test_request_context("/?lang=en"):
        assert {code: str(text) for code, text in SHOWN.items()} == TEXTS
