"""The inbox as a work surface: names, pages both ways, claim from the list, claim next, bulk assign with a
confirmation, saved views, the live-update poll, the bell and the notification API, the complaint countdown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from engine.services import instances, notifications, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks
from tests.support.web import login
from web import create_app


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _deploy(ctx, key="plain", name="电话回访 Call back"):
    deploy(ctx, (f"{key}.bpmn", b.linear(key, b.user_task("call", "回电 Call back", candidateGroups="service_team"),
                                         name=name)))


def _start(ctx, clock, key="plain", n=1):
    made = []
    for _ in range(n):
        started = instances.start_instance(ctx, process_key=key, actor=SYSTEM)
        made.extend(t.id for t in open_tasks(ctx, started.id))
        clock.advance(timedelta(minutes=1))
    return made


def _ids(page: str) -> list[str]:
    return re.findall(r'<tr[^>]*data-task="([0-9a-f-]{36})"', page)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a class="{rel}" href="([^"]+)"', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_pages_go_forward_and_back_with_the_chosen_size(app, ctx, clock):
    _deploy(ctx)
    made = _start(ctx, clock, n=7)
    client, _ = login(app, "alice")
    first = client.get("/inbox?view=queue&size=3").get_data(as_text=True)
    assert _ids(first) == made[:3] and _link(first, "previous") is None and 'data-page="1"' in first
    second = client.get(_link(first, "next")).get_data(as_text=True)
    assert _ids(second) == made[3:6] and 'data-page="2"' in second
    third = client.get(_link(second, "next")).get_data(as_text=True)
    assert _ids(third) == made[6:] and _link(third, "next") is None
    back = client.get(_link(third, "previous")).get_data(as_text=True)
    assert _ids(back) == made[3:6] and 'data-page="2"' in back
    again = client.get(_link(back, "previous")).get_data(as_text=True)
    assert _ids(again) == made[:3] and _link(again, "previous") is None
    # New work sorted onto the first page does not break the way back from a later page.
    sorted_first = client.get("/inbox?view=queue&size=3&sort=priority").get_data(as_text=True)
    sorted_second = client.get(_link(sorted_first, "next")).get_data(as_text=True)
    [urgent] = _start(ctx, clock)
    tasks.update_task(ctx, urgent, actor=SYSTEM, priority=99)
    back = client.get(_link(sorted_second, "previous")).get_data(as_text=True)
    assert _ids(back)[0] == urgent and len(_ids(back)) == 3
    assert _link(sorted_second, "first") is not None
    assert client.get("/inbox?view=queue&size=500").status_code == 200  # a size beyond the choices falls back to the default
    assert client.get("/inbox?view=queue&cursor=garbage").status_code == 400


def test_the_process_filter_takes_names_in_either_language(app, ctx, clock):
    _deploy(ctx)
    _deploy(ctx, "care", "生日关怀 Birthday care")
    plain = _start(ctx, clock)
    care = _start(ctx, clock, "care")
    client, _ = login(app, "alice")

    def shown(process: str, lang: str = "") -> list[str]:
        return _ids(client.get(f"/inbox?view=queue&process={process}{lang}").get_data(as_text=True))

    assert shown("电话回访") == plain and shown("Birthday") == care and shown("care") == care
    assert shown("plain") == plain and shown("关怀") == care
    assert shown("no such process") == []
    page = client.get("/inbox?view=queue").get_data(as_text=True)
    assert "电话回访" in page and "Call back" not in page and ">plain<" not in page  # names, one language
    assert '<option value="生日关怀">' in page  # the filter suggests the names
    english = client.get("/inbox?view=queue&lang=en").get_data(as_text=True)
    assert "Birthday care" in english and "生日关怀" not in english


def test_claim_from_the_list_stays_on_the_list_and_claim_next_opens_the_best_task(app, ctx, clock, people):
    _deploy(ctx)
    first, second, third = _start(ctx, clock, n=3)
    tasks.update_task(ctx, third, actor=people["sam"], priority=95)
    client, csrf = login(app, "alice")
    page = client.get("/inbox?view=queue&size=10").get_data(as_text=True)
    assert f'data-claim="{first}"' in page
    back = "/inbox?view=queue&size=10"
    answer = client.post(f"/inbox/tasks/{first}/claim", data={"csrf_token": csrf, "back": back})
    assert answer.status_code == 302 and answer.headers["Location"] == back
    assert tasks.get_task(ctx, first, actor=people["alice"]).assignee == "alice"
    evil = client.post(f"/inbox/tasks/{second}/claim", data={"csrf_token": csrf, "back": "//evil.example/inbox"})
    assert evil.headers["Location"] == "/inbox"  # never off the site
    nxt = client.post("/inbox/claim-next", data={"csrf_token": csrf})
    assert nxt.status_code == 302 and nxt.headers["Location"] == f"/inbox/tasks/{third}"
    empty = client.post("/inbox/claim-next", data={"csrf_token": csrf, "back": back}, follow_redirects=True)
    assert "没有可领取的任务" in empty.get_data(as_text=True)
    assert client.post("/inbox/claim-next", data={}).status_code in (400, 403)  # CSRF


def test_bulk_assign_asks_first_and_staff_cannot_bulk(app, ctx, clock, people):
    _deploy(ctx)
    made = _start(ctx, clock, n=2)
    sup, csrf = login(app, "sam")
    page = sup.get("/inbox?view=all").get_data(as_text=True)
    assert 'name="task_ids"' in page and 'id="bulk-assign"' in page
    asked = sup.post("/inbox/bulk", data={"csrf_token": csrf, "action": "assign", "assignee": "bob",
                                          "task_ids": made, "back": "/inbox?view=all"})
    body = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'id="bulk-confirm"' in body and "bob" in body
    assert all(tasks.get_task(ctx, t, actor=people["sam"]).assignee is None for t in made)  # nothing yet
    done = sup.post("/inbox/bulk", data={"csrf_token": csrf, "action": "assign", "assignee": "bob",
                                         "task_ids": made, "confirmed": "1", "back": "/inbox?view=all"})
    assert done.status_code == 302 and done.headers["Location"] == "/inbox?view=all"
    assert all(tasks.get_task(ctx, t, actor=people["sam"]).assignee == "bob" for t in made)
    assert notifications.unread_count(ctx, actor=people["bob"]) == 2  # told of each
    alice, acsrf = login(app, "alice")
    assert 'name="task_ids"' not in alice.get("/inbox?view=queue").get_data(as_text=True)
    refused = alice.post("/inbox/bulk", data={"csrf_token": acsrf, "action": "claim", "task_ids": made},
                         follow_redirects=True)
    assert refused.status_code == 200 and tasks.get_task(ctx, made[0], actor=people["sam"]).assignee == "bob"


def test_saved_views_and_team_views_from_the_page(app, ctx, clock):
    _deploy(ctx)
    client, csrf = login(app, "alice")
    saved = client.post("/inbox/views", data={"csrf_token": csrf, "name": "我的回访", "view": "queue",
                                              "process": "电话回访", "size": "10"})
    assert saved.status_code == 302
    opened = client.get(saved.headers["Location"])
    assert opened.status_code == 302 and "process=" in opened.headers["Location"] and "size=10" in opened.headers["Location"]
    refused = client.post("/inbox/views", data={"csrf_token": csrf, "name": "team", "shared_group": "service_team"},
                          follow_redirects=True)
    assert "主管" in refused.get_data(as_text=True) or "supervisor" in refused.get_data(as_text=True)
    sup, scsrf = login(app, "sam")
    sup.post("/inbox/views", data={"csrf_token": scsrf, "name": "全组逾期", "view": "queue", "overdue": "1",
                                   "shared_group": "service_team"})
    page = client.get("/inbox").get_data(as_text=True)
    assert "我的回访" in page and "全组逾期" in page
    carol, _ = login(app, "carol")
    assert "全组逾期" not in carol.get("/inbox").get_data(as_text=True)


def test_the_poll_answers_a_version_that_changes_with_the_list(app, ctx, clock, people):
    _deploy(ctx)
    _start(ctx, clock)
    client, _ = login(app, "alice")
    page = client.get("/inbox?view=queue").get_data(as_text=True)
    version = re.search(r'data-live-version="([0-9a-f]+)"', page).group(1)
    url = re.search(r'data-live-url="([^"]+)"', page).group(1).replace("&amp;", "&")
    answer = client.get(url)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.get_json()["version"] == version and answer.get_json()["counts"]["queue"]["count"] == 1
    _start(ctx, clock)
    changed = client.get(url).get_json()
    assert changed["version"] != version and changed["counts"]["queue"]["count"] == 2
    sup, _ = login(app, "sam")
    desk = sup.get("/inbox/changes?scope=desk").get_json()
    assert set(desk) == {"version", "unread"}
    assert 'data-live-url="/inbox/changes?scope=desk"' in sup.get("/supervisor").get_data(as_text=True)
    assert client.get("/inbox/changes?scope=desk").status_code == 400  # the desk is for supervisors


def test_the_bell_and_the_notification_api(app, ctx, clock, people):
    _deploy(ctx)
    [task] = _start(ctx, clock)
    tasks.assign_task(ctx, task, actor=people["sam"], assignee="alice")
    client, csrf = login(app, "alice")
    page = client.get("/inbox").get_data(as_text=True)
    assert re.search(r'id="bell-count" data-count="1">1<', page)
    listed = client.get("/inbox/notifications").get_data(as_text=True)
    assert "分配给你" in listed and "回电" in listed
    api = client.get("/api/v1/notifications", headers={"X-CSRF-Token": csrf}).get_json()
    assert api["unread"] == 1 and api["items"][0]["kind"] == "task_assigned" and api["items"][0]["task_id"] == task
    assert client.get("/api/v1/notifications?limit=1000").status_code == 400
    marked = client.post("/api/v1/notifications/read", json={"task_id": task}, headers={"X-CSRF-Token": csrf})
    assert marked.get_json() == {"marked": 1}
    assert re.search(r'id="bell-count" data-count="0">0<', client.get("/inbox").get_data(as_text=True))
    bob, bcsrf = login(app, "bob")
    assert bob.post("/api/v1/notifications/read", json={}, headers={"X-CSRF-Token": bcsrf}).get_json() == {"marked": 0}


def test_a_complaint_task_shows_its_regulatory_countdown(app, ctx, clock, people):
    from engine.complaints.service import ComplaintInput, submit_complaint
    from tests.support.care import add_customers, customer
    from tests.support.portal import deploy_complaints

    deploy_complaints(ctx)
    add_customers(ctx, customer("F1"))
    case, _ = submit_complaint(ctx, ComplaintInput(channel="phone", business_type="loans", cause="other",
                                                   summary="还款提醒不及时", customer_id="F1"), actor=people["alice"])
    clock.advance(timedelta(days=3))
    sup, _ = login(app, "sam")
    page = sup.get("/inbox?view=all").get_data(as_text=True)
    badge = re.search(rf'data-countdown="{case.case_no}"[^>]*>(.*?)</span>', page, re.S)
    assert badge, page
    assert "目标还有 12 天" in badge.group(1) and "法定" in badge.group(1)


def test_each_person_sets_their_own_notification_channel(app, ctx):
    from engine.services import notification_settings
    from tests.support.care import RecordingChannel

    ctx.register_channel(RecordingChannel("email"))
    client, csrf = login(app, "alice")
    page = client.get("/inbox/notifications/settings").get_data(as_text=True)
    assert 'value="email"' in page and 'value="wecom"' not in page  # only what this system can send by
    wrong = client.post("/inbox/notifications/settings", data={"csrf_token": csrf, "channel": "email",
                                                               "address": "nope", "events": ["task_assigned"]})
    assert wrong.status_code == 422 and "请填写工作邮箱" in wrong.get_data(as_text=True)
    right = client.post("/inbox/notifications/settings", data={"csrf_token": csrf, "channel": "email",
                                                               "address": "alice@bank.cn",
                                                               "events": ["task_assigned", "sla_breached"]})
    assert right.status_code == 302
    from engine.services import identity

    got = notification_settings.get_settings(ctx, actor=identity.get_actor(ctx, "alice"))
    assert (got.channel, got.address, got.events) == ("email", "alice@bank.cn", ("task_assigned", "sla_breached"))
    assert notification_settings.get_settings(ctx, actor=identity.get_actor(ctx, "bob")).channel == "inapp"
