"""Delegation, dates and priority, bulk actions, comments and attachments, routing and absence, login lockout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import (
    AuthenticationError,
    InvalidDefinitionError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from engine.services import collaboration, identity, instances, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


def _one_task(ctx, **props):
    props.setdefault("candidateGroups", "service_team")
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("work", "Work", **props))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    return started, task


def test_delegation_comes_back_to_the_owner(ctx, people):
    _, task = _one_task(ctx)
    alice, bob = people["alice"], people["bob"]
    tasks.claim_task(ctx, task.id, actor=alice)
    delegated = tasks.delegate_task(ctx, task.id, actor=alice, to="bob")
    assert (delegated.assignee, delegated.owner) == ("bob", "alice")
    bob_view = tasks.get_task(ctx, task.id, actor=bob)
    assert "resolve" in bob_view.actions and "complete" not in bob_view.actions
    with pytest.raises(PermissionDeniedError):
        tasks.complete_task(ctx, task.id, actor=bob, data={})
    back = tasks.resolve_task(ctx, task.id, actor=bob)
    assert (back.assignee, back.owner) == ("alice", None)
    assert tasks.complete_task(ctx, task.id, actor=alice, data={}).status == "completed"


def test_priority_due_and_follow_up_dates(ctx, clock, people):
    _, task = _one_task(ctx)
    with pytest.raises(PermissionDeniedError):
        tasks.update_task(ctx, task.id, actor=people["alice"], priority=80)  # not hers yet
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    follow = clock.now() + timedelta(days=2)
    updated = tasks.update_task(ctx, task.id, actor=people["alice"], priority=80, follow_up_at=follow)
    assert (updated.priority, updated.follow_up_at) == (80, follow)
    with pytest.raises(InvalidInputError):
        tasks.update_task(ctx, task.id, actor=people["alice"], priority=101)


def test_bulk_assign_reports_each_task(ctx, people):
    _, first = _one_task(ctx)
    second = open_tasks(ctx, instances.start_instance(ctx, process_key="p", actor=SYSTEM).id)[0]
    tasks.claim_task(ctx, second.id, actor=people["bob"])
    with pytest.raises(PermissionDeniedError):
        tasks.bulk_transition(ctx, [first.id], actor=people["alice"], action="claim")
    result = tasks.bulk_transition(ctx, [first.id, second.id, "not-a-task"], actor=people["sam"], action="assign",
                                   assignee="alice")
    assert result == {first.id: "ok", second.id: "ok", "not-a-task": "invalid_input"}
    assert tasks.get_task(ctx, second.id, actor=people["sam"]).assignee == "alice"


def test_comments_and_attachments(ctx, people):
    _, task = _one_task(ctx)
    collaboration.add_comment(ctx, task.id, actor=people["alice"], text="客户来电补充：卡片已挂失")
    [comment] = collaboration.list_comments(ctx, task.id, actor=people["bob"])
    assert (comment.author, comment.text) == ("alice", "客户来电补充：卡片已挂失")
    with pytest.raises(PermissionDeniedError):
        collaboration.add_comment(ctx, task.id, actor=people["carol"], text="not my team")
    pdf = b"%PDF-1.7\n%test\n"
    saved = collaboration.add_attachment(ctx, task.id, actor=people["alice"], filename="../../回单.pdf", content=pdf)
    assert (saved.filename, saved.content_type, saved.size) == ("回单.pdf", "application/pdf", len(pdf))
    view, content = collaboration.read_attachment(ctx, saved.id, actor=people["bob"])
    assert content == pdf and view.sha256 == saved.sha256
    stored = list(ctx.settings.uploads.dir.rglob(saved.sha256))
    assert len(stored) == 1 and stored[0].read_bytes() == pdf  # outside the database row
    with pytest.raises(InvalidInputError, match="does not look like"):
        collaboration.add_attachment(ctx, task.id, actor=people["alice"], filename="fake.pdf", content=b"MZ\x90\x00")
    with pytest.raises(InvalidInputError, match="allowed file types"):
        collaboration.add_attachment(ctx, task.id, actor=people["alice"], filename="run.exe", content=b"MZ")
    with pytest.raises(InvalidInputError, match="at most"):
        collaboration.add_attachment(ctx, task.id, actor=people["alice"], filename="big.txt",
                                     content=b"x" * (ctx.settings.uploads.max_bytes + 1))
    with pytest.raises(PermissionDeniedError):
        collaboration.read_attachment(ctx, saved.id, actor=people["carol"])


def test_round_robin_skips_absent_people(ctx, clock, people):
    identity.set_absence(ctx, "bob", until=clock.now() + timedelta(days=1), actor=people["sam"])
    assigned = [_next(ctx, "round_robin") for _ in range(3)]
    assert assigned == ["alice", "sam", "alice"]  # service_team members present: alice, sam (bob is away)


def _next(ctx, strategy, **props):
    deploy(ctx, ("rr.bpmn", b.linear("rr", b.user_task("work", "Work", candidateGroups="service_team",
                                                       assignment=strategy, **props))))
    [task] = open_tasks(ctx, instances.start_instance(ctx, process_key="rr", actor=SYSTEM).id)
    assert task.status == "claimed"
    return task.assignee


def test_least_loaded_and_skills(ctx, people):
    assert [_next(ctx, "least_loaded") for _ in range(4)] == ["alice", "bob", "sam", "alice"]
    identity.update_user(ctx, "bob", actor=people["root"], skills=["wealth", "english"])
    assert _next(ctx, "skills", requiredSkills="wealth,english") == "bob"
    with pytest.raises(InvalidDefinitionError, match="requiredSkills"):
        deploy(ctx, ("bad.bpmn", b.linear("bad", b.user_task("w", "W", assignment="skills"))))


def test_going_absent_puts_claimed_tasks_back_in_the_queue(ctx, clock, people):
    _, task = _one_task(ctx)
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    with pytest.raises(PermissionDeniedError):
        identity.set_absence(ctx, "alice", until=clock.now() + timedelta(days=5), actor=people["bob"])
    assert identity.set_absence(ctx, "alice", until=clock.now() + timedelta(days=5), actor=people["sam"]) == 1
    view = tasks.get_task(ctx, task.id, actor=people["bob"])
    assert (view.status, view.assignee) == ("open", None)


def test_five_wrong_passwords_make_the_next_try_wait(ctx, clock, people):
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, "alice", "wrong password")
    with pytest.raises(RateLimitedError):
        identity.authenticate_password(ctx, "alice", "correct horse 1")  # throttled, even with the right one
    clock.advance(timedelta(seconds=2))
    assert identity.authenticate_password(ctx, "alice", "correct horse 1").username == "alice"


def test_admins_revoke_tokens(ctx, people):
    token = identity.create_token(ctx, username="alice")
    assert identity.authenticate_token(ctx, token).username == "alice"
    with pytest.raises(PermissionDeniedError):
        identity.revoke_tokens(ctx, "alice", actor=people["bob"])
    assert identity.revoke_tokens(ctx, "alice", actor=people["root"]) == 1
    with pytest.raises(AuthenticationError):
        identity.authenticate_token(ctx, token)


def test_a_delegated_task_cannot_be_delegated_on_by_the_delegate(ctx, people):
    _, task = _one_task(ctx)
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    tasks.delegate_task(ctx, task.id, actor=people["alice"], to="bob")
    with pytest.raises(PermissionDeniedError):
        tasks.delegate_task(ctx, task.id, actor=people["bob"], to="sam")
