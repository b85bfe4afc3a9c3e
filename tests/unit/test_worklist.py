"""The inbox's engine services: process names as filters, claim next, complaint countdowns, saved views,
staff notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import InvalidInputError, PermissionDeniedError
from engine.services import instances, notifications, saved_views, sla, tasks, worklist
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


def _process(ctx, key="plain", name="电话回访 Call back", **props):
    props.setdefault("candidateGroups", "service_team")
    deploy(ctx, (f"{key}.bpmn", b.linear(key, b.user_task("call", "回电 Call back", **props), name=name)))


def _start(ctx, key="plain", n=1):
    made = []
    for _ in range(n):
        started = instances.start_instance(ctx, process_key=key, actor=SYSTEM)
        [task] = open_tasks(ctx, started.id)
        made.append(task)
    return made


def test_names_in_either_language_find_the_process_key(ctx, people):
    _process(ctx)
    _process(ctx, "care", "生日关怀 Birthday care")
    assert worklist.matching_keys(ctx, "plain") == ("plain",)
    assert worklist.matching_keys(ctx, "电话回访") == ("plain",)
    assert worklist.matching_keys(ctx, "birthday CARE") == ("care",)
    assert worklist.matching_keys(ctx, "关怀") == ("care",)
    assert worklist.matching_keys(ctx, "nothing like it") == ()
    _start(ctx, "plain", 2)
    _start(ctx, "care", 1)
    alice = people["alice"]

    def listed(keys):
        page = tasks.list_tasks(ctx, actor=alice, view="queue", filters=tasks.TaskFilters(process_keys=keys))
        return sorted(t.process_key for t in page.items)

    assert listed(("care",)) == ["care"]
    assert listed(("care", "plain")) == ["care", "plain", "plain"]
    assert listed(()) == []  # a name that matched nothing lists nothing, not everything


def test_claim_next_takes_the_highest_priority_then_the_earliest_due(ctx, clock, people):
    _process(ctx)
    low, high_late, high_soon, unreachable = _start(ctx, n=4)
    sam = people["sam"]
    tasks.update_task(ctx, low.id, actor=sam, priority=30, due_at=clock.now() + timedelta(hours=1))
    tasks.update_task(ctx, high_late.id, actor=sam, priority=80, due_at=clock.now() + timedelta(days=3))
    tasks.update_task(ctx, high_soon.id, actor=sam, priority=80, due_at=clock.now() + timedelta(days=1))
    tasks.claim_task(ctx, unreachable.id, actor=people["bob"])  # claimed already: never "next"
    alice = people["alice"]
    order = [worklist.claim_next(ctx, actor=alice) for _ in range(3)]
    assert [t.id for t in order] == [high_soon.id, high_late.id, low.id]
    assert all(t.assignee == "alice" and t.status == "claimed" for t in order)
    assert worklist.claim_next(ctx, actor=alice) is None
    assert worklist.claim_next(ctx, actor=people["carol"]) is None  # another team's queue
    history = [h.action for h in instances.get_instance(ctx, low.instance_id, actor=SYSTEM).history]
    assert "task.claim" in history  # the ordinary, audited claim


def test_claim_next_skips_a_task_the_process_keeps_from_me(ctx, people):
    _process(ctx, excludeUsers="'alice'")
    _start(ctx)
    assert worklist.claim_next(ctx, actor=people["alice"]) is None
    assert worklist.claim_next(ctx, actor=people["bob"]).assignee == "bob"


def test_claim_next_honours_the_filters(ctx, people):
    _process(ctx)
    _process(ctx, "care", "生日关怀 Birthday care")
    _start(ctx, "plain")
    [care] = _start(ctx, "care")
    got = worklist.claim_next(ctx, actor=people["alice"], filters=tasks.TaskFilters(process_keys=("care",)))
    assert got.id == care.id


def test_saved_views_are_personal_and_only_supervisors_share_with_their_own_groups(ctx, people):
    alice, bob, sam, carol = people["alice"], people["bob"], people["sam"], people["carol"]
    mine = saved_views.save_view(ctx, actor=alice, name="紧急", query={"view": "queue", "priority": "90"})
    assert [v.name for v in saved_views.list_views(ctx, actor=alice)] == ["紧急"]
    assert saved_views.list_views(ctx, actor=bob) == []
    with pytest.raises(PermissionDeniedError):
        saved_views.save_view(ctx, actor=alice, name="team", query={}, shared_group="service_team")
    with pytest.raises(PermissionDeniedError):
        saved_views.save_view(ctx, actor=sam, name="theirs", query={}, shared_group="branch_team")
    with pytest.raises(InvalidInputError):
        saved_views.save_view(ctx, actor=alice, name="x", query={"evil": "1"})
    with pytest.raises(InvalidInputError):
        saved_views.save_view(ctx, actor=alice, name=" ", query={})
    team = saved_views.save_view(ctx, actor=sam, name="逾期", query={"view": "queue", "overdue": "1"},
                                 shared_group="service_team")
    assert [v.name for v in saved_views.list_views(ctx, actor=bob)] == ["逾期"]
    assert saved_views.list_views(ctx, actor=carol) == []
    assert saved_views.get_view(ctx, team.id, actor=bob).query == {"view": "queue", "overdue": "1"}
    with pytest.raises(saved_views.SavedViewNotFoundError):
        saved_views.get_view(ctx, mine.id, actor=bob)  # someone's own view is theirs alone
    with pytest.raises(PermissionDeniedError):
        saved_views.delete_view(ctx, team.id, actor=bob)  # shared with bob, still sam's
    saved_views.delete_view(ctx, team.id, actor=sam)
    assert saved_views.list_views(ctx, actor=bob) == []
    trail = [h.action for h in _audit(ctx, f"inbox_view:{team.id}")]
    assert trail == ["inbox_view.shared", "inbox_view.deleted"]


def _audit(ctx, stream):
    from sqlalchemy import select

    from engine.db.models import AuditEvent
    from engine.db.session import unit_of_work

    with unit_of_work(ctx.sessions, write=False) as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.id)).all()


def test_assignments_approvals_and_sla_events_notify_the_right_people(ctx, clock, people):
    _process(ctx, dueIn="PT10H")
    [task] = _start(ctx)
    alice, sam = people["alice"], people["sam"]
    assert notifications.list_notifications(ctx, actor=alice).unread == 0
    tasks.assign_task(ctx, task.id, actor=sam, assignee="alice")
    page = notifications.list_notifications(ctx, actor=alice)
    assert [(n.kind, n.task_id, n.title) for n in page.items] == [("task_assigned", task.id, "回电 Call back")]
    assert page.unread == 1
    clock.advance(timedelta(hours=8, minutes=1))  # past the warning (80 %)
    sla.sweep_breaches(ctx)
    sla.sweep_breaches(ctx)  # told once
    assert [n.kind for n in notifications.list_notifications(ctx, actor=alice).items] == ["sla_warning",
                                                                                        "task_assigned"]
    clock.advance(timedelta(hours=2))
    sla.sweep_breaches(ctx)
    kinds = [n.kind for n in notifications.list_notifications(ctx, actor=alice).items]
    assert kinds == ["sla_breached", "sla_warning", "task_assigned"]
    assert notifications.list_notifications(ctx, actor=people["bob"]).items == []
    # Marking read touches only one's own.
    bob_first = notifications.mark_read(ctx, actor=people["bob"], ids=[n.id for n in page.items])
    assert bob_first == 0 and notifications.unread_count(ctx, actor=alice) == 3
    assert notifications.mark_read(ctx, actor=alice, task_id=task.id) == 3
    assert notifications.unread_count(ctx, actor=alice) == 0
    assert notifications.list_notifications(ctx, actor=alice, unread_only=True).items == []


def test_an_unclaimed_breach_tells_the_groups_supervisors(ctx, clock, people):
    _process(ctx, dueIn="PT1H")
    _start(ctx)
    clock.advance(timedelta(hours=2))
    sla.sweep_breaches(ctx)
    assert [n.kind for n in notifications.list_notifications(ctx, actor=people["sam"]).items] == ["sla_breached"]
    assert notifications.list_notifications(ctx, actor=people["alice"]).items == []


def test_an_approval_task_notifies_its_possible_approvers_but_not_the_maker(ctx, people):
    deploy(ctx, ("fee.bpmn", b.linear("fee", b.user_task("compute", "Compute", candidateGroups="service_team"),
                                      b.user_task("approve", "审批 Approve", candidateGroups="supervisors",
                                                  approves="compute"))))
    started = instances.start_instance(ctx, process_key="fee", actor=SYSTEM)
    [compute] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, compute.id, actor=people["sam"])
    tasks.complete_task(ctx, compute.id, actor=people["sam"])
    [approve] = open_tasks(ctx, started.id)
    assert notifications.list_notifications(ctx, actor=people["sam"]).items == []  # sam made it: not his to approve
    from engine.services import identity

    identity.create_user(ctx, username="vera", roles=["supervisor"], groups=["supervisors"])
    started = instances.start_instance(ctx, process_key="fee", actor=SYSTEM)
    [compute] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, compute.id, actor=people["alice"])
    tasks.complete_task(ctx, compute.id, actor=people["alice"])
    [approve] = open_tasks(ctx, started.id)
    vera = identity.get_actor(ctx, "vera")
    for who in (people["sam"], vera):
        items = notifications.list_notifications(ctx, actor=who).items
        assert [(n.kind, n.task_id) for n in items] == [("approval_waiting", approve.id)]
