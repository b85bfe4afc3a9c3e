"""The task lifecycle, inbox views, filters, pagination and form validation."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from engine.errors import (
    FormValidationError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
    UserNotFoundError,
)
from engine.services import identity, instances, tasks
from engine.services import task_queries as queries
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks

FORM = {
    "id": "answer", "type": "default",
    "components": [
        {"type": "textarea", "key": "answer", "label": "答复", "validate": {"required": True, "maxLength": 200}},
        {"type": "number", "key": "amount", "validate": {"min": 0}},
    ],
}


@pytest.fixture
def answer_process(ctx):
    xml = b.linear("answer_flow", b.user_task("write", "Write the answer", formKey="answer",
                                               candidateGroups="service_team", dueIn="P2D", priority="70"),
                   b.user_task("approve", "Approve", candidateGroups="supervisors"))
    deploy(ctx, ("answer_flow.bpmn", xml), ("answer.json", json.dumps(FORM).encode()))


def _start(ctx, actor, **kw):
    started = instances.start_instance(ctx, process_key="answer_flow", actor=actor, **kw)
    return open_tasks(ctx, started.id)[0]


def test_claim_complete_moves_the_process_on(ctx, people, answer_process, clock):
    task = _start(ctx, people["alice"])
    assert task.due_at == clock.now() + timedelta(days=2) and task.priority == 70
    assert task.actions == ("claim", "assign", "pause")  # the system actor (admin) built this view
    assert tasks.get_task(ctx, task.id, actor=people["alice"]).actions == ("claim",)
    claimed = tasks.claim_task(ctx, task.id, actor=people["alice"])
    assert (claimed.status, claimed.assignee) == ("claimed", "alice")
    assert claimed.actions == ("unclaim", "complete", "delegate", "pause")
    done = tasks.complete_task(ctx, task.id, actor=people["alice"], data={"answer": "已处理", "amount": 12.5})
    assert (done.status, done.completed_by) == ("completed", "alice")
    [approve] = open_tasks(ctx, task.instance_id)
    assert approve.task_name == "approve"
    assert tasks.get_task(ctx, approve.id, actor=people["sam"]).data["answer"] == "已处理"


def test_form_errors_change_nothing(ctx, people, answer_process):
    task = _start(ctx, people["alice"])
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    with pytest.raises(FormValidationError) as info:
        tasks.complete_task(ctx, task.id, actor=people["alice"], data={"amount": -1, "extra": 1})
    assert set(info.value.errors) == {"answer", "amount", "extra"}
    again = tasks.get_task(ctx, task.id, actor=people["alice"])
    assert again.status == "claimed" and "amount" not in (again.data or {})


def test_lifecycle_refusals(ctx, people, answer_process):
    task = _start(ctx, people["alice"])
    with pytest.raises(InvalidTransitionError):
        tasks.complete_task(ctx, task.id, actor=people["alice"], data={"answer": "x"})
    with pytest.raises(PermissionDeniedError):
        tasks.claim_task(ctx, task.id, actor=people["carol"])  # not in service_team
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    with pytest.raises(InvalidTransitionError) as info:
        tasks.claim_task(ctx, task.id, actor=people["bob"])
    assert info.value.details == {"subject": task.id, "state": "claimed", "action": "claim"}
    with pytest.raises(PermissionDeniedError):
        tasks.complete_task(ctx, task.id, actor=people["bob"], data={"answer": "x"})
    with pytest.raises(PermissionDeniedError):
        tasks.unclaim_task(ctx, task.id, actor=people["bob"])
    with pytest.raises(PermissionDeniedError):
        tasks.assign_task(ctx, task.id, actor=people["alice"], assignee="bob")
    with pytest.raises(UserNotFoundError):
        tasks.assign_task(ctx, task.id, actor=people["sam"], assignee="ghost")
    assert tasks.assign_task(ctx, task.id, actor=people["sam"], assignee="bob").assignee == "bob"
    assert tasks.unclaim_task(ctx, task.id, actor=people["bob"]).status == "open"
    with pytest.raises(PermissionDeniedError):
        tasks.get_task(ctx, task.id, actor=people["carol"])


def test_views_filters_and_archive(ctx, people, answer_process, clock):
    first = _start(ctx, people["alice"], customer_id="C1")
    clock.advance(timedelta(minutes=1))
    second = _start(ctx, people["alice"], customer_id="C2")
    ids = lambda page: [t.id for t in page.items]  # noqa: E731
    where = tasks.TaskFilters
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="queue")) == [first.id, second.id]
    assert ids(tasks.list_tasks(ctx, actor=people["carol"], view="queue")) == []
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="queue", filters=where(customer="C2"))) == [second.id]
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="queue", filters=where(q="answer"))) == [first.id, second.id]
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="queue", filters=where(q="nothing%"))) == []
    tasks.claim_task(ctx, first.id, actor=people["alice"])
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="mine")) == [first.id]
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="queue")) == [second.id]
    assert ids(tasks.list_tasks(ctx, actor=people["sam"], view="all")) == [first.id, second.id]
    with pytest.raises(PermissionDeniedError):
        tasks.list_tasks(ctx, actor=people["alice"], view="all")
    clock.advance(timedelta(days=3))
    assert len(tasks.list_tasks(ctx, actor=people["sam"], view="all", filters=where(overdue=True)).items) == 2
    assert tasks.list_tasks(ctx, actor=people["sam"], view="all", filters=where(overdue=False)).items == []
    tasks.complete_task(ctx, first.id, actor=people["alice"], data={"answer": "ok"})
    assert ids(tasks.list_tasks(ctx, actor=people["alice"], view="archive")) == [first.id]
    for bad in ({"view": "everything"}, {"limit": 0}, {"cursor": "@@"}):
        with pytest.raises(InvalidInputError):
            tasks.list_tasks(ctx, actor=people["sam"], **bad)


def test_keyset_pagination_visits_every_task_once(ctx, people, answer_process, clock):
    started = []
    for _ in range(7):
        started.append(_start(ctx, people["alice"]).id)
        if len(started) % 3:
            clock.advance(timedelta(seconds=1))  # some tasks share a timestamp: the id breaks ties
    seen, cursor = [], None
    while True:
        page = tasks.list_tasks(ctx, actor=people["alice"], view="queue", limit=3, cursor=cursor)
        seen += [t.id for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(started) and len(seen) == len(set(seen)) == 7


def test_queue_pages_merge_groups_user_and_unnamed_tasks_in_order(ctx, clock, people):
    identity.create_user(ctx, username="multi", roles=["staff"], groups=["team_a", "team_b"], password="correct horse 1")
    multi = identity.get_actor(ctx, "multi")
    expected = []
    for n, props in enumerate([{"candidateGroups": "team_a"}, {"candidateGroups": "team_b"},
                               {"candidateUsers": "multi"}, {}, {"candidateGroups": "team_a", "candidateUsers": "multi"},
                               {"candidateGroups": "team_c"}]):
        deploy(ctx, (f"q{n}.bpmn", b.linear(f"q{n}", b.user_task("t", f"T{n}", **props))))
        started = instances.start_instance(ctx, process_key=f"q{n}", actor=SYSTEM)
        if props.get("candidateGroups") != "team_c":
            expected.append(open_tasks(ctx, started.id)[0].id)
        clock.advance(timedelta(minutes=1))
    seen, cursor = [], None
    while True:
        page = tasks.list_tasks(ctx, actor=multi, view="queue", limit=2, cursor=cursor)
        seen += [t.id for t in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == expected  # oldest first, each once, team_c's task not shown
    tasks.claim_task(ctx, expected[0], actor=multi)
    assert expected[0] not in [t.id for t in tasks.list_tasks(ctx, actor=multi, view="queue").items]
    tasks.unclaim_task(ctx, expected[0], actor=multi)
    assert tasks.list_tasks(ctx, actor=multi, view="queue").items[0].id == expected[0]


UUID1 = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(("raw", "sort"), [
    (["created", "2025-01-01T00:00:00", UUID1], "created"),  # a naive time
    (["created", "0001-01-01T00:00:00+05:00", UUID1], "created"),  # before year 1 in UTC
    (["created", "2025-01-01T00:00:00+00:00", UUID1], "due"),  # a cursor of another sort order
    (["priority", "2025-01-01T00:00:00+00:00", True, UUID1], "priority"),
    (["created", None, UUID1], "created"),
    ("garbage", "created"),
])
def test_bad_cursors_are_invalid_input(ctx, people, raw, sort):
    text = raw if isinstance(raw, str) else json.dumps(raw)
    cursor = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    with pytest.raises(InvalidInputError, match="cursor"):
        tasks.list_tasks(ctx, actor=people["alice"], view="queue", sort=sort, cursor=cursor)


def _four_tasks(ctx, people, clock):
    """Four tasks of service_team, a minute apart: (priority, due in hours or None, follow-up in hours or None)."""
    deploy(ctx, ("no_due.bpmn", b.linear("no_due", b.user_task("call", "Call", candidateGroups="service_team"))))
    plan = [(70, None, None), (90, 5, 1), (70, 2, None), (30, 2, 30)]
    made = []
    for priority, due, follow_up in plan:
        if due is None:  # answer_flow's tasks are due in two days; this process sets no due time
            started = instances.start_instance(ctx, process_key="no_due", actor=people["alice"])
            task = open_tasks(ctx, started.id)[0]
        else:
            task = _start(ctx, people["alice"])
        now = clock.now()
        tasks.update_task(ctx, task.id, actor=people["sam"], priority=priority,
                          due_at=now + timedelta(hours=due) if due is not None else None,
                          follow_up_at=now + timedelta(hours=follow_up) if follow_up is not None else None)
        made.append(task.id)
        clock.advance(timedelta(minutes=1))
    return made


def test_filters_by_priority_due_time_and_follow_up_date_with_counts(ctx, people, answer_process, clock):
    first, second, third, fourth = _four_tasks(ctx, people, clock)
    alice, now = people["alice"], clock.now()
    ids = lambda **kw: [t.id for t in tasks.list_tasks(  # noqa: E731
        ctx, actor=alice, view="queue", filters=tasks.TaskFilters(**kw)).items]
    assert ids(priority_min=80) == [second]
    assert ids(priority_min=70) == [first, second, third]
    assert ids(due_before=now + timedelta(hours=3)) == [third, fourth]  # the first task was made 2 h 57 min ago
    assert ids(follow_up_before=now + timedelta(hours=2)) == [second]
    assert ids(priority_min=70, due_before=now + timedelta(hours=3)) == [third]
    assert tasks.count_tasks(ctx, actor=alice, view="queue") == (4, False)
    assert tasks.count_tasks(ctx, actor=alice, view="queue", filters=tasks.TaskFilters(priority_min=70)) == (3, False)
    assert tasks.count_tasks(ctx, actor=people["carol"], view="queue") == (0, False)


def test_counts_stop_at_the_cap(ctx, people, answer_process, clock, monkeypatch):
    _four_tasks(ctx, people, clock)
    monkeypatch.setattr(tasks, "COUNT_CAP", 3)
    assert tasks.count_tasks(ctx, actor=people["sam"], view="all") == (3, True)
    assert tasks.count_tasks(ctx, actor=people["sam"], view="all", filters=tasks.TaskFilters(priority_min=80)) == (1, False)


@pytest.mark.parametrize("view", ["queue", "all"])
@pytest.mark.parametrize("sort", ["created", "due", "priority"])
@pytest.mark.parametrize("few", [200, 1], ids=["few-candidates", "many-candidates"])
def test_every_sort_order_pages_through_every_task_once(ctx, people, answer_process, clock, view, sort, few,
                                                        monkeypatch):
    """Both ways SQLite finds a queue page in another order (task_queries.FEW) give the same pages."""
    monkeypatch.setattr(queries, "FEW", few)
    made = _four_tasks(ctx, people, clock)
    third = tasks.get_task(ctx, made[2], actor=people["sam"])
    fifth = _start(ctx, people["alice"]).id  # due at the same time as the third: the id breaks the tie
    tasks.update_task(ctx, fifth, actor=people["sam"], priority=70, due_at=third.due_at)
    made.append(fifth)
    actor = people["sam"] if view == "all" else people["alice"]
    seen, cursor = [], None
    while True:
        page = tasks.list_tasks(ctx, actor=actor, view=view, sort=sort, limit=2, cursor=cursor)
        seen += page.items
        if not (cursor := page.next_cursor):
            break
    far = clock.now() + timedelta(days=3650)
    key = {"created": lambda t: (t.created_at, t.id), "due": lambda t: (t.due_at is None, t.due_at or far, t.id),
           "priority": lambda t: (-t.priority, t.created_at, t.id)}[sort]
    assert [t.id for t in seen] == [t.id for t in sorted(seen, key=key)]
    assert sorted(t.id for t in seen) == sorted(made)


def test_sort_and_filter_arguments_are_checked(ctx, people, answer_process):
    for bad in ({"sort": "name"}, {"sort": "due", "view": "archive"}, {"filters": tasks.TaskFilters(priority_min=101)},
                {"filters": tasks.TaskFilters(priority_min=-1)}):
        with pytest.raises(InvalidInputError):
            tasks.list_tasks(ctx, actor=people["alice"], **bad)
