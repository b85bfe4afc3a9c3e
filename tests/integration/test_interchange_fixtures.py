"""Every interchange fixture (tests/fixtures/interchange) opens as a draft; the runnable ones deploy and run to the end.

The fixtures are written in the shapes Camunda Modeler 7/8, Signavio, ARIS, ADONIS, Trisotech, Bizagi, W4 and
Yaoqiang export (their namespaces and metadata). ``manifest.json`` says which deploy and what data drives them;
``python -m scripts.interchange_report`` prints the same counts for the closing note.
"""

from __future__ import annotations

import io

import pytest

from engine.services import definitions
from scripts.interchange_report import FIXTURES, deploy, manifest, run_to_end
from web import create_app

ENTRIES = manifest()
# Must-fix items that are about the file as a whole, not one element: they carry no line.
WHOLE_FILE = ("several pools could run", "no process with flow nodes")


@pytest.fixture
def client(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


@pytest.fixture
def dora(ctx, people):
    from engine.services import identity

    return {"Authorization": f"Bearer {identity.create_token(ctx, username='dora')}"}


def test_there_are_enough_fixtures_and_half_the_camunda_7_ones_deploy():
    assert len(ENTRIES) >= 20 and all((FIXTURES / name).exists() for name in ENTRIES)
    camunda7 = [e for e in ENTRIES.values() if e["tool"] == "Camunda 7"]
    assert sum(e["deploys"] for e in camunda7) * 2 >= len(camunda7)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_each_fixture_opens_as_a_draft_and_says_what_to_fix(client, dora, name):
    entry = ENTRIES[name]
    files = [(io.BytesIO((FIXTURES / name).read_bytes()), name)]
    files += [(io.BytesIO((FIXTURES / extra).read_bytes()), extra) for extra in entry.get("with", [])]
    response = client.post("/api/v1/designer/import?as_draft=1", data={"file": files},
                           content_type="multipart/form-data", headers=dora)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.json
    must_fix = body["must_fix"]
    assert (not must_fix or entry.get("process") is not None) == entry["deploys"], must_fix
    for item in must_fix:  # no refusal without element and line
        if not item["message"].startswith(WHOLE_FILE) and "targetNamespace" not in item["message"]:
            assert item["line"] and item["element_id"], item
    for item in body["ignored"]:
        assert item["line"] and item["message"].endswith(")"), item
    draft = client.get(f"/api/v1/designer/drafts/process/{body['draft']['name']}", headers=dora).json
    if body["process_key"]:
        assert 'isExecutable="true"' in draft["content"]


@pytest.mark.parametrize("name", sorted(n for n, e in ENTRIES.items() if e["deploys"]))
def test_the_runnable_fixtures_deploy_and_run_to_the_end(ctx, clock, people, name):
    entry = ENTRIES[name]
    key = deploy(ctx, name, entry)
    status, visited = run_to_end(ctx, clock, key, entry, people)
    assert status == "completed", visited
    assert set(entry.get("visits", [])) <= set(visited), visited


def test_metadata_is_kept_in_the_stored_file_for_the_way_back(ctx, people):
    key = deploy(ctx, "c7_01_user_task_assignee.bpmn", ENTRIES["c7_01_user_task_assignee.bpmn"])
    stored = definitions.get_definition_file(ctx, key, 1, "c7_01_user_task_assignee.bpmn")
    original = (FIXTURES / "c7_01_user_task_assignee.bpmn").read_text(encoding="utf-8")
    for kept in ('camunda:assignee="alice"', 'camunda:followUpDate="${dateTime().plusDays(1).toDate()}"',
                 'modeler:executionPlatform="Camunda Platform"', "<bpmndi:BPMNShape"):
        assert kept in original and kept in stored
    assert "spiffworkflow:" not in stored
