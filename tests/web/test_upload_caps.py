"""One place for the upload caps: a file upload may be ``settings.uploads.max_bytes`` (10 MB), a JSON body keeps the
small ``settings.inputs.request_max_bytes`` (5 MB), and each answers 413 with a message naming its own cap."""

from __future__ import annotations

import dataclasses
import json

import pytest

from engine.services import identity, instances, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import open_tasks
from tests.support.web import login, multipart
from web import create_app

MB = 1024 * 1024


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def task_id(ctx, people):
    from engine.bpmn.loader import SourceFile
    from engine.services import definitions

    xml = b.linear("upload_flow", b.user_task("check", candidateGroups="service_team"))
    definitions.deploy_definition(ctx, files=[SourceFile("upload_flow.bpmn", xml)], actor=people["dora"])
    instance = instances.start_instance(ctx, process_key="upload_flow", actor=SYSTEM)
    task = open_tasks(ctx, instance.id)[0]
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    return task.id


def _pdf(size: int) -> bytes:
    return b"%PDF-1.4 " + b"0" * (size - 9)


def _upload(client, path, size, name="big.pdf", fields=None, headers=None):
    body, content_type = multipart(fields or {}, {"file": (name, _pdf(size))})
    return client.post(path, data=body, content_type=content_type, headers=headers or {})


def test_the_caps_agree_a_file_upload_may_be_larger_than_a_json_body(settings):
    assert settings.uploads.max_bytes == 10 * MB and settings.inputs.request_max_bytes == 5 * MB
    assert settings.uploads.max_request_bytes > settings.uploads.max_bytes > settings.inputs.request_max_bytes


def test_a_6_mb_attachment_uploads_on_the_task_page_and_through_the_api(app, ctx, people, task_id):
    alice, csrf = login(app, "alice")
    page = _upload(alice, f"/inbox/tasks/{task_id}/attach", 6 * MB, "回单.pdf", {"csrf_token": csrf})
    assert page.status_code == 302
    token = identity.create_token(ctx, username="alice")
    api = _upload(app.test_client(), f"/api/v1/tasks/{task_id}/attachments", 6 * MB, "second.pdf",
                  headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 201, api.data[:300]
    from engine.services import collaboration

    sizes = sorted(a.size for a in collaboration.list_attachments(ctx, task_id, actor=people["alice"]))
    assert sizes == [6 * MB, 6 * MB]


def test_an_11_mb_attachment_is_a_413_naming_the_upload_cap(app, ctx, task_id):
    token = identity.create_token(ctx, username="alice")
    api = _upload(app.test_client(), f"/api/v1/tasks/{task_id}/attachments", 11 * MB, "big.pdf",
                  headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 413
    assert "files may total at most 10 MB" in api.get_json()["error"]["message"]
    alice, csrf = login(app, "alice")
    page = _upload(alice, f"/inbox/tasks/{task_id}/attach", 11 * MB, "big.pdf", {"csrf_token": csrf})
    assert page.status_code == 413 and "10 MB" in page.get_data(as_text=True)


def test_a_file_between_the_caps_is_refused_by_the_file_rule_not_the_request_cap(app, ctx, task_id):
    # 10 MB + 100 kB fits the request (the form overhead) but not the file rule: a 422 that names the rule.
    token = identity.create_token(ctx, username="alice")
    api = _upload(app.test_client(), f"/api/v1/tasks/{task_id}/attachments", 10 * MB + 100_000, "big.pdf",
                  headers={"Authorization": f"Bearer {token}"})
    assert api.status_code in (400, 422) and "at most 10 MB" in api.get_json()["error"]["message"]


def test_a_6_mb_json_body_still_gets_the_json_limit(app, ctx, people):
    token = identity.create_token(ctx, username="alice")
    body = json.dumps({"process_key": "x", "variables": {"blob": "a" * (6 * MB)}})
    response = app.test_client().post("/api/v1/instances", data=body, content_type="application/json",
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413
    assert f"at most {5 * MB} bytes" in response.get_json()["error"]["message"]


def test_the_upload_cap_is_one_setting_the_pages_follow(ctx, people, task_id):
    small = dataclasses.replace(ctx.settings, uploads=dataclasses.replace(ctx.settings.uploads, max_bytes=1 * MB))
    ctx.settings = small
    app = create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)
    token = identity.create_token(ctx, username="alice")
    api = _upload(app.test_client(), f"/api/v1/tasks/{task_id}/attachments", 3 * MB, "big.pdf",
                  headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 413 and "at most 1 MB" in api.get_json()["error"]["message"]
