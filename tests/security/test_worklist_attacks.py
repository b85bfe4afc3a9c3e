"""The inbox's new forms and endpoints under attack: redirects off the site, someone else's views and
notifications, oversized or forged list links, bulk and sharing without the role."""

from __future__ import annotations

import pytest

from engine.errors import PermissionDeniedError
from engine.services import identity, instances, notifications, saved_views, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks
from tests.support.web import login
from web import create_app


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


@pytest.fixture
def task_id(ctx):
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    [task] = open_tasks(ctx, instances.start_instance(ctx, process_key="simple", actor=SYSTEM).id)
    return task.id


@pytest.mark.parametrize("back", ["//evil.example/inbox", "https://evil.example/inbox", "/\\evil.example",
                                  "javascript:alert(1)//inbox", "/inbox\\@evil.example", " //evil.example"])
def test_the_back_link_never_leaves_the_site(app, ctx, task_id, back):
    client, csrf = login(app, "alice")
    answer = client.post(f"/inbox/tasks/{task_id}/claim", data={"csrf_token": csrf, "back": back})
    assert answer.status_code == 302 and answer.headers["Location"] == "/inbox"


def test_someone_elses_view_and_notifications_stay_theirs(app, ctx, people, task_id):
    private = saved_views.save_view(ctx, actor=people["bob"], name="bob's", query={"view": "queue"})
    tasks.assign_task(ctx, task_id, actor=people["sam"], assignee="bob")
    [note] = notifications.list_notifications(ctx, actor=people["bob"]).items
    client, csrf = login(app, "alice")
    assert client.get(f"/inbox?saved={private.id}").status_code == 404
    assert client.post(f"/inbox/views/{private.id}/delete", data={"csrf_token": csrf}).status_code == 404
    client.post("/inbox/notifications/read", data={"csrf_token": csrf, "id": str(note.id)})
    client.post("/api/v1/notifications/read", json={"ids": [note.id]}, headers={"X-CSRF-Token": csrf})
    assert notifications.unread_count(ctx, actor=people["bob"]) == 1  # still unread: not alice's to mark
    assert "bob's" not in client.get("/inbox").get_data(as_text=True)


def test_forged_or_oversized_list_links_are_refused_not_crashed(app, task_id):
    client, _ = login(app, "alice")
    assert client.get("/inbox?view=queue&trail=" + ".".join(["x"] * 500)).status_code == 400
    assert client.get("/inbox?view=queue&cursor=eyJub3QiOiJhIGN1cnNvciJ9").status_code == 400
    assert client.get("/inbox/changes?view=queue&cursor=%00%01").status_code == 400
    assert client.get("/inbox?saved=99999999999999999999999").status_code == 400
    assert client.get("/inbox?view=all").status_code == 200  # staff asking for "all" get their own tasks instead
    assert client.get("/api/v1/notifications?limit=-1").status_code == 400


def test_staff_cannot_bulk_or_share_and_forms_need_the_token(app, ctx, people, task_id):
    client, csrf = login(app, "alice")
    client.post("/inbox/bulk", data={"csrf_token": csrf, "action": "assign", "assignee": "alice",
                                     "task_ids": [task_id], "confirmed": "1"})
    assert tasks.get_task(ctx, task_id, actor=people["sam"]).assignee is None
    client.post("/inbox/views", data={"csrf_token": csrf, "name": "team", "shared_group": "service_team"})
    assert saved_views.list_views(ctx, actor=people["bob"]) == []
    for path in ("/inbox/claim-next", "/inbox/bulk", "/inbox/views", "/inbox/notifications/read",
                 "/inbox/notifications/settings"):
        assert client.post(path, data={"name": "x", "action": "claim", "task_ids": [task_id]}).status_code in (400, 403)
    assert tasks.get_task(ctx, task_id, actor=people["sam"]).assignee is None
    with pytest.raises(PermissionDeniedError):  # a supervisor shares only with a group of their own
        saved_views.save_view(ctx, actor=identity.get_actor(ctx, "sam"), name="x", query={}, shared_group="admins")
