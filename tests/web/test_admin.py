"""The user administration page: admins edit roles, groups and skills; supervisors record absences."""

from __future__ import annotations

import pytest

from engine.services import identity
from tests.support.web import login
from web import create_app


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def test_admin_adds_and_edits_users(app, ctx):
    root, csrf = login(app, "root")
    root.post("/admin/users", data={"csrf_token": csrf, "username": "zhou.min", "display_name": "周敏",
                                    "roles": "staff", "groups": "service_team,branch_team", "password": "long enough 1"})
    root.post("/admin/users/zhou.min/update", data={"csrf_token": csrf, "roles": "staff,supervisor",
                                                    "groups": "service_team", "skills": "wealth，english"})
    [user] = [u for u in identity.list_users(ctx) if u.username == "zhou.min"]
    assert (user.roles, user.groups, user.skills) == (("staff", "supervisor"), ("service_team",), ("english", "wealth"))
    assert "zhou.min" in root.get("/admin/users").get_data(as_text=True)


def test_supervisors_record_absence_but_cannot_change_roles(app, ctx):
    sam, csrf = login(app, "sam")
    page = sam.get("/admin/users").get_data(as_text=True)
    assert 'id="add-user"' not in page
    sam.post("/admin/users/alice/absent", data={"csrf_token": csrf, "until": "2025-03-10"})
    [alice] = [u for u in identity.list_users(ctx) if u.username == "alice"]
    assert alice.absent_until is not None and alice.absent_until.isoformat().startswith("2025-03-10T15:59")
    sam.post("/admin/users/alice/update", data={"csrf_token": csrf, "roles": "admin"})
    assert identity.get_actor(ctx, "alice").roles == frozenset({"staff"})


def test_staff_cannot_open_the_admin_page(app):
    alice, _ = login(app, "alice")
    assert alice.get("/admin/users").status_code == 403
