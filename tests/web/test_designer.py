"""The designer's pages and REST endpoints over HTTP (Flask's test client, real database)."""

from __future__ import annotations

import io
import json
import re

import pytest

from engine.services import identity, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks
from tests.support.web import login
from web import create_app

GROUP = {"candidateGroups": "service_team"}


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def token(ctx, people):
    return lambda name: {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"}


@pytest.fixture
def two_versions(ctx):
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", "写 Write", **GROUP))))
    started = instances.start_instance(ctx, process_key="req", actor=SYSTEM, business_key="R-1")
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", "写 Write", **GROUP), b.user_task("check", **GROUP))))
    return started


def _page_data(html: str) -> dict:
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


def test_designer_pages_render_for_designers_and_supervisors(app, two_versions):
    client, _ = login(app, "dora")
    index = client.get("/designer")
    assert index.status_code == 200
    assert 'data-process="req"' in index.get_data(as_text=True)
    assert "<h2>流程设计</h2>" in index.get_data(as_text=True) and "Open in the modeler" not in index.get_data(as_text=True)
    english = client.get("/designer?lang=en").get_data(as_text=True)
    assert "<h2>Process designer</h2>" in english and ">Open in the modeler</a>" in english and "流程设计" not in english
    client.get("/lang/zh")
    assert "img-src 'self' data:" in index.headers["Content-Security-Policy"]
    modeler = client.get("/designer/modeler/req")
    data = _page_data(modeler.get_data(as_text=True))
    assert (data["key"], data["base_version"], data["source"]) == ("req", 2, "version")
    assert '<bpmn:userTask id="check"' in data["xml"]
    assert "/static/build/modeler-" in modeler.get_data(as_text=True)
    assert _page_data(client.get("/designer/modeler/req?version=1&fresh=1").get_data(as_text=True))["base_version"] == 1
    new = _page_data(client.get("/designer/modeler/brand_new").get_data(as_text=True))
    assert new["source"] == "new" and 'id="brand_new"' in new["xml"]
    versions = client.get("/designer/processes/req").get_data(as_text=True)
    assert 'data-version="2"' in versions and 'data-version="1"' in versions
    diff = client.get("/designer/processes/req/diff?from=1&to=2").get_data(as_text=True)
    assert '<tr data-change="added" data-element="check"><td>新增</td>' in diff
    diff = client.get("/designer/processes/req/diff?from=1&to=2&lang=en").get_data(as_text=True)
    assert '<tr data-change="added" data-element="check"><td>added</td>' in diff and "新增" not in diff
    supervisor, _ = login(app, "sam")
    assert supervisor.get("/designer/processes/req/heatmap").status_code == 200
    assert supervisor.get(f"/designer/instances/{two_versions.id}").status_code == 200
    staff, _ = login(app, "alice")
    assert staff.get("/designer").status_code == 403
    assert "nav-designer" not in staff.get("/inbox").get_data(as_text=True)
    assert "nav-designer" in client.get("/inbox").get_data(as_text=True)


def test_a_draft_saved_with_the_session_reopens_in_the_modeler(app):
    client, csrf = login(app, "dora")
    refused = client.put("/api/v1/designer/drafts/process/req", json={"content": "<x/>"})
    assert refused.status_code == 401  # a session must send its CSRF token
    saved = client.put("/api/v1/designer/drafts/process/req", json={"content": "<draft/>", "base_version": 1},
                       headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200 and saved.json["revision"] == 1
    stale = client.put("/api/v1/designer/drafts/process/req", json={"content": "<y/>", "revision": 0},
                       headers={"X-CSRF-Token": csrf})
    assert stale.status_code == 409
    data = _page_data(client.get("/designer/modeler/req").get_data(as_text=True))
    assert (data["xml"], data["source"], data["draft_revision"]) == ("<draft/>", "draft", 1)


def test_migrating_over_http(app, two_versions, token, ctx):
    dora = token("dora")
    plan = app.test_client().post("/api/v1/definitions/req/migrations/dry-run", json={}, headers=dora)
    assert plan.status_code == 200
    [entry] = plan.json["instances"]
    assert (entry["instance_id"], entry["from_version"], entry["to_version"], entry["compatible"]) == (
        two_versions.id, 1, 2, True)
    assert entry["tasks"] == [{"element_id": "write", "title": "写 Write", "kind": "UserTask", "state": "ready",
                               "maps": True, "reason": None}]
    sam = token("sam")
    assert app.test_client().post("/api/v1/definitions/req/migrations", json={}, headers=sam).status_code == 403
    asked = app.test_client().post("/api/v1/definitions/req/migrations",
                                   json={"instance_ids": [two_versions.id]}, headers=dora)
    assert asked.status_code == 202 and asked.json["instances"][0]["migrated"] is False  # the dry run, waiting
    assert instances.get_instance(ctx, two_versions.id, actor=SYSTEM).definition_version == 1
    approval = asked.json["approval_id"]
    assert app.test_client().post(f"/api/v1/approvals/{approval}/approve", headers=dora).status_code == 403  # own
    done = app.test_client().post(f"/api/v1/approvals/{approval}/approve", headers=sam)  # the second person
    assert done.status_code == 200 and done.json["result"]["migrated"] == 1
    assert instances.get_instance(ctx, two_versions.id, actor=SYSTEM).definition_version == 2
    path = app.test_client().get(f"/api/v1/instances/{two_versions.id}/path", headers=dora).json
    assert (path["version"], path["current"]) == (2, ["write"])


def test_versions_xml_diff_and_heatmap_over_http(app, two_versions, token, ctx, people):
    sam = token("sam")
    client = app.test_client()
    versions = client.get("/api/v1/definitions/req/versions", headers=sam).json["items"]
    assert [(v["version"], v["instance_count"]) for v in versions] == [(2, 0), (1, 1)]
    xml = client.get("/api/v1/definitions/req/versions/1/xml", headers=sam)
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert "attachment; filename*=UTF-8''req.bpmn" == xml.headers["Content-Disposition"]
    assert b'id="check"' not in xml.data
    diff = client.get("/api/v1/definitions/req/diff?from=1&to=2", headers=sam).json
    assert sorted(e["element_id"] for e in diff["added"]) == ["check", "flow_check_end", "flow_write_check"]
    assert client.get("/api/v1/definitions/req/diff", headers=sam).status_code == 400
    assert client.get("/api/v1/definitions/nope/versions", headers=sam).status_code == 404
    [task] = open_tasks(ctx, two_versions.id)
    heat = client.get("/api/v1/definitions/req/heatmap?version=1", headers=sam).json["items"]
    # Every element of the version (from the activity history), those never entered with zeros.
    assert [(h["element_id"], h["kind"], h["count"], h["open"]) for h in heat] == [
        ("start", "startEvent", 1, 0), ("write", "userTask", 1, 1), ("end", "endEvent", 0, 0)]
    assert task.task_name == "write"


def test_importing_through_the_page_lists_what_cannot_run(app):
    client, csrf = login(app, "dora")
    xml = (b'<?xml version="1.0"?><bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           b'id="d"><bpmn:process id="x" isExecutable="true"><bpmn:startEvent id="s"/>'
           b'<bpmn:complexGateway id="cg"/></bpmn:process></bpmn:definitions>')
    response = client.post("/designer/import", data={"csrf_token": csrf, "file": (io.BytesIO(xml), "x.bpmn"),
                                                     "mode": "deploy"}, content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "complexGateway" in page and "<td>cg</td>" in page


def test_importing_through_the_page_opens_a_draft_with_what_to_fix(app, ctx):
    from engine.services import designer

    client, csrf = login(app, "dora")
    xml = (b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           b'xmlns:signavio="http://www.signavio.com" id="d">\n<bpmn:process id="doc_model" isExecutable="false">\n'
           b'<bpmn:startEvent id="s"><bpmn:extensionElements><signavio:signavioMetaData metaKey="bgcolor" '
           b'metaValue="#fff"/></bpmn:extensionElements></bpmn:startEvent>\n'
           b'<bpmn:complexGateway id="cg"/></bpmn:process></bpmn:definitions>')
    response = client.post("/designer/import", content_type="multipart/form-data",
                           data={"csrf_token": csrf, "file": (io.BytesIO(xml), "doc.bpmn"), "mode": "draft"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="import-must-fix"' in page and "<td>5</td><td>cg</td>" in page  # must fix, with line and element
    assert 'id="import-ignored"' in page and "signavio:signavioMetaData" in page
    assert "/designer/modeler/doc_model" in page
    draft = designer.get_draft(ctx, kind="process", name="doc_model", actor=designer_actor())
    assert 'isExecutable="true"' in draft.content and "signavioMetaData" in draft.content
    broken = client.post("/designer/import", content_type="multipart/form-data",
                         data={"csrf_token": csrf, "file": (io.BytesIO(xml[:120]), "doc.bpmn"), "mode": "draft"})
    assert broken.status_code == 400 and "malformed XML" in broken.get_data(as_text=True)


def test_the_import_page_lists_a_process_in_no_pool_as_not_run(app, ctx):
    from scripts.interchange_report import FIXTURES

    client, csrf = login(app, "dora")
    content = (FIXTURES / "miwg_c90_stray_process.bpmn").read_bytes()
    response = client.post("/designer/import", content_type="multipart/form-data",
                           data={"csrf_token": csrf, "file": (io.BytesIO(content), "c90.bpmn"), "mode": "draft"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="import-must-fix"' not in page and 'id="import-dropped"' in page
    assert "不运行：其他泳池及不属于任何泳池的流程" in page and "<td>38</td><td>stray_end</td>" in page


def designer_actor():
    from tests.support.engine import DESIGNER

    return DESIGNER
