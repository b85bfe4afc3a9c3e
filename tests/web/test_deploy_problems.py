"""Deploying through the API: every kind of problem comes back as a 422 naming file, line and element.

Also the import from other modelers: Camunda/Zeebe properties CareFlow has an equivalent for are
mapped and deploy; elements or extensions it cannot run are refused with what and where; never a 500.
"""

from __future__ import annotations

import io
import json

import pytest

from engine.services import definitions, identity
from tests.support import bpmn as b
from web import create_app

FORM = {"id": "answer", "type": "default",
        "components": [{"type": "textfield", "key": "answer", "validate": {"required": True}}]}
CAMUNDA_NS = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
ZEEBE_NS = 'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'


@pytest.fixture
def client(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


@pytest.fixture
def dora(ctx, people):
    return {"Authorization": f"Bearer {identity.create_token(ctx, username='dora')}"}


def _deploy(client, headers, xml: bytes, *extra: tuple[str, str]):
    files = [{"filename": "p.bpmn", "content": xml.decode()}] + [{"filename": n, "content": c} for n, c in extra]
    return client.post("/api/v1/definitions", json={"files": files}, headers=headers)


def _problems(response) -> list[dict]:
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid_definition"
    return response.json["error"]["details"]["problems"]


def test_malformed_xml_names_file_and_line(client, dora):
    xml = b.simple_task_process("p").replace(b"</bpmn:process>", b"</bpmn:proces>")
    [problem] = _problems(_deploy(client, dora, xml))
    assert (problem["file"], problem["line"]) == ("p.bpmn", 3)
    assert problem["message"].startswith("malformed XML")


def test_unknown_form_key_names_the_user_task(client, dora):
    xml = b.linear("p", b.user_task("write", formKey="no_such_form", candidateGroups="service_team"))
    [problem] = _problems(_deploy(client, dora, xml))
    assert (problem["file"], problem["line"], problem["element_id"]) == ("p.bpmn", 3, "write")
    assert "form 'no_such_form' is not deployed" in problem["message"]
    ok = _deploy(client, dora, b.linear("p", b.user_task("write", formKey="answer")), ("answer.json", json.dumps(FORM)))
    assert ok.status_code == 201


def test_missing_handler_names_the_service_task(client, dora):
    xml = b.linear("p", b.service_task("call_bank", "bank.no_such_handler", amount="1"))
    [problem] = _problems(_deploy(client, dora, xml))
    assert problem["element_id"] == "call_bank"
    assert "service handler 'bank.no_such_handler' is not registered" in problem["message"]


def test_bad_timer_expression_names_the_event(client, dora):
    xml = b.linear("p", b.timer_catch("wait", "duration", '"P2X"'))
    [problem] = _problems(_deploy(client, dora, xml))
    assert problem["element_id"] == "wait"
    assert "timer duration 'P2X' is not a valid ISO 8601 duration" in problem["message"]
    # an ISO-8601 literal as other modelers write it (<timeDuration>PT5M</timeDuration>) is a literal, not a name
    assert _deploy(client, dora, b.linear("p", b.timer_catch("wait", "duration", "PT5M"))).status_code == 201
    [unquoted] = _problems(_deploy(client, dora, b.linear("q", b.timer_catch("wait", "duration", "PT5X"))))
    assert (unquoted["element_id"], unquoted["message"]) == ("wait", 'timer expression PT5X must be quoted: "PT5X"')


def test_script_that_does_not_compile_names_the_script_task(client, dora):
    xml = b.linear("p", b.script_task("compute", "total = (1 +"))
    [problem] = _problems(_deploy(client, dora, xml))
    assert problem["element_id"] == "compute"
    assert problem["message"].startswith("script does not compile")


def test_several_problems_are_all_listed_and_nothing_is_stored(client, dora, ctx):
    xml = b.linear("p", b.user_task("write", formKey="nope"), b.script_task("compute", "x = = 1"),
                   b.timer_catch("wait", "duration", '"soon"'))
    problems = _problems(_deploy(client, dora, xml))
    assert sorted(p["element_id"] for p in problems) == ["compute", "wait", "write"]
    assert definitions.list_definitions(ctx) == []


def test_the_modeler_endpoint_reports_the_same_problems(client, dora):
    xml = b.linear("p", b.user_task("write", formKey="nope"))
    response = client.post("/api/v1/designer/deploy?validate_only=1", json={"xml": xml.decode()}, headers=dora)
    [problem] = _problems(response)
    assert (problem["file"], problem["element_id"]) == ("p.bpmn", "write")


# --- import from other modelers --------------------------------------------------------------------------------------

def _camunda(body: str, pid: str = "imported") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/'
            f'MODEL" {CAMUNDA_NS} {ZEEBE_NS} id="d" targetNamespace="http://bpmn.io/schema/bpmn">\n'
            f'<bpmn:process id="{pid}" isExecutable="true" camunda:historyTimeToLive="180">\n'
            f'<bpmn:startEvent id="start"/>\n{body}\n<bpmn:endEvent id="end"/>\n'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>\n'
            '<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>\n'
            '</bpmn:process>\n</bpmn:definitions>\n').encode()


def _import(client, headers, content: bytes, *extra: tuple[str, str], filename: str = "camunda.bpmn"):
    body = {"filename": filename, "content": content.decode("utf-8", "replace"),
            "files": [{"filename": n, "content": c} for n, c in extra]}
    return client.post("/api/v1/designer/import", json=body, headers=headers)


def test_camunda_user_task_properties_are_mapped_and_the_file_deploys(client, dora, ctx):
    xml = _camunda('<bpmn:userTask id="work" name="处理 Work" camunda:formKey="answer" '
                   'camunda:candidateGroups="service_team" camunda:asyncBefore="true"/>')
    response = _import(client, dora, xml, ("answer.json", json.dumps(FORM)))
    assert response.status_code == 201, response.json
    assert response.json["key"] == "imported" and response.json["version"] == 1
    assert response.json["mapped"] == ["work: candidateGroups = service_team", "work: formKey = answer"]
    # stored as it came, so it goes back to Camunda Modeler intact; the executed copy is derived when it loads
    stored = definitions.get_definition_file(ctx, "imported", 1, "camunda.bpmn")
    assert 'camunda:formKey="answer"' in stored and 'camunda:asyncBefore="true"' in stored
    assert "spiffworkflow:" not in stored
    assert [(i["element_id"], i["line"]) for i in response.json["ignored"]] == [("imported", 3), ("work", 5)]
    assert "camunda:asyncBefore" in response.json["ignored"][1]["message"]


def test_zeebe_job_type_becomes_the_service_handler(client, dora):
    xml = _camunda('<bpmn:serviceTask id="work"><bpmn:extensionElements>'
                   '<zeebe:taskDefinition type="careflow.notify"/></bpmn:extensionElements></bpmn:serviceTask>')
    response = _import(client, dora, xml, filename="zeebe.bpmn")
    # careflow.notify needs parameters at run time but it is a registered handler: the file is runnable
    assert response.status_code == 201, response.json
    assert response.json["mapped"] == ["work: job type careflow.notify → service handler"]


def test_what_careflow_cannot_run_is_listed_with_where(client, dora, ctx):
    xml = _camunda('<bpmn:serviceTask id="work" camunda:class="com.bank.Delegate">\n'
                   '<bpmn:extensionElements><camunda:executionListener event="start" class="x.Y"/>'
                   '</bpmn:extensionElements></bpmn:serviceTask>\n'
                   '<bpmn:complexGateway id="mixer"/>')
    problems = _problems(_import(client, dora, xml))
    found = {(p["element_id"], p["line"], p["message"]) for p in problems}
    assert ("work", 5, 'camunda:class="com.bank.Delegate": a Java delegate class cannot run in CareFlow; call a '
                       'CareFlow service handler (camunda:type="external" camunda:topic="handler")') in found
    assert ("work", 6, "extension <camunda:executionListener>: execution listeners run Java/JUEL/script code "
                       "CareFlow cannot run; model the step as a script or service task") in found
    assert any(p["element_id"] == "mixer" and p["message"].startswith("complexGateway") for p in problems)
    assert all(p["file"] == "camunda.bpmn" for p in problems)
    assert definitions.list_definitions(ctx) == []


def test_other_script_languages_and_conditions_that_are_not_python_are_refused(client, dora):
    xml = _camunda('<bpmn:scriptTask id="work" scriptFormat="javascript"><bpmn:script>var a = 1;</bpmn:script>'
                   '</bpmn:scriptTask>\n<bpmn:intermediateCatchEvent id="when"><bpmn:conditionalEventDefinition>'
                   '<bpmn:condition>${x}</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>')
    problems = _problems(_import(client, dora, xml))
    messages = {p["element_id"]: p["message"] for p in problems}
    assert messages["work"] == "script language 'javascript' is not supported; scripts are Python"
    # conditional events run (tests/unit/test_bpmn_elements.py); a condition that is not Python is refused at its line
    assert messages["when"].startswith("conditionalEventDefinition: the condition '${x}' does not compile")


@pytest.mark.parametrize("content", [b"", b"not xml at all", b"\xff\xfe\x00garbage", b'{"json": true}',
                                     b'<?xml version="1.0"?><html/>',
                                     b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><x>&a;&a;</x>'])
def test_garbage_is_a_422_never_a_server_error(client, dora, content):
    response = client.post("/api/v1/designer/import", data={"file": (io.BytesIO(content), "odd.bpmn")},
                           content_type="multipart/form-data", headers=dora)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"]["details"]["problems"][0]["file"] == "odd.bpmn"


def test_only_designers_import(client, ctx, dora):
    alice = {"Authorization": f"Bearer {identity.create_token(ctx, username='alice')}"}
    response = _import(client, alice, _camunda('<bpmn:userTask id="work"/>'))
    assert response.status_code == 403
