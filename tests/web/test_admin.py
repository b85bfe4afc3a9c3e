"""The user administration page: admins edit roles, groups and skills; supervisors record absences."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from engine.services import approvals, calendar, identity
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
    # groups and skills at once; the supervisor role waits for a second administrator
    assert (user.roles, user.groups, user.skills) == (("staff",), ("service_team",), ("english", "wealth"))
    assert "zhou.min" in root.get("/admin/users").get_data(as_text=True)
    [pending] = approvals.list_approvals(ctx, actor=identity.get_actor(ctx, "root"))
    refused = root.post(f"/approvals/{pending.id}/approve", data={"csrf_token": csrf}, follow_redirects=True)
    assert "second person" in refused.get_data(as_text=True)  # not one's own request
    identity.create_user(ctx, username="ada", roles=["admin"], password="correct horse 1")
    ada, ada_csrf = login(app, "ada")
    assert f'id="approve-{pending.id}"' in ada.get("/approvals").get_data(as_text=True)
    ada.post(f"/approvals/{pending.id}/approve", data={"csrf_token": ada_csrf})
    assert identity.get_actor(ctx, "zhou.min").roles == frozenset({"staff", "supervisor"})


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


def test_the_calendar_page_asks_for_next_years_notice_and_admins_load_it(app, ctx, clock):
    clock.set(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    sam, sam_csrf = login(app, "sam")
    desk = sam.get("/supervisor").get_data(as_text=True)
    assert 'id="calendar-attention"' in desk and "2027" in desk
    page = sam.get("/admin/calendar").get_data(as_text=True)
    assert 'data-year="2027" data-source="estimated"' in page and 'id="calendar-import"' not in page
    assert sam.post("/admin/calendar/import", data={"csrf_token": sam_csrf, "year": "2027", "source": "n",
                                                     "table": "2027-02-13,班"}).status_code == 403

    root, csrf = login(app, "root")
    bad = root.post("/admin/calendar/import", follow_redirects=True, data={
        "csrf_token": csrf, "year": "2027", "source": "国办发明电（示例）",
        "table": "2027-02-05..2027-02-11,休,春节\n2027-02-31,班"})
    assert "2027-02-31" in bad.get_data(as_text=True) and calendar.list_days(ctx, 2027) == []
    upload = (io.BytesIO("2027-02-05..2027-02-11,休,春节\n2027-02-13,班,调休上班\n".encode("utf-8-sig")), "2027.csv")
    root.post("/admin/calendar/import", content_type="multipart/form-data",
              data={"csrf_token": csrf, "year": "2027", "source": "国办发明电（示例）", "file": upload})
    assert [(d.day.isoformat(), d.workday) for d in calendar.list_days(ctx, 2027)][-1] == ("2027-02-13", True)
    root.post("/admin/calendar/set", data={"csrf_token": csrf, "day": "2027-03-02", "kind": "rest", "name": "台风停业"})
    page = root.get("/admin/calendar").get_data(as_text=True)
    assert 'data-year="2027" data-source="bank"' in page and 'data-day="2027-03-02"' in page and "台风停业" in page
    assert 'id="calendar-attention"' not in sam.get("/supervisor").get_data(as_text=True)
    root.post("/admin/calendar/unset", data={"csrf_token": csrf, "day": "2027-03-02"})
    assert "2027-03-02" not in {d.day.isoformat() for d in calendar.list_days(ctx, 2027)}


def test_staff_cannot_see_the_calendar_page(app):
    alice, _ = login(app, "alice")
    assert alice.get("/admin/calendar").status_code == 403
