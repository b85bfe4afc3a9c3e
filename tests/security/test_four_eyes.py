"""Four eyes is an engine rule (finding 5): the starter and every performer of what an approval task approves —
delegates, earlier rounds and patch-and-retry included — never approve it, on any path."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from engine.db.models import HumanTask
from engine.errors import PermissionDeniedError
from engine.runtime import four_eyes
from engine.services import identity, instances, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service_request(ctx):
    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("service_request_*.json"))]
    deploy(ctx, *files)


@pytest.fixture
def sue(ctx):
    identity.create_user(ctx, username="sue", roles=["supervisor"], groups=["supervisors", "service_team"],
                         password="correct horse 1")
    return identity.get_actor(ctx, "sue")


def _handled(ctx, by, amount=200_000, starter=None):
    started = instances.start_instance(ctx, process_key="service_request", actor=starter or by)
    [handle] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, handle.id, by, {"resolution": "退款", "amount": amount})
    [approve] = open_tasks(ctx, started.id)
    assert approve.task_name == "approve_request"
    return started, approve


def test_a_supervisor_cannot_start_handle_and_approve_her_own_request(ctx, people, service_request, sue):
    """The finding as it was found: sam started a service_request, handled 200,000 and approved it himself."""
    _, approve = _handled(ctx, people["sam"])
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        tasks.claim_task(ctx, approve.id, actor=people["sam"])
    with pytest.raises(PermissionDeniedError):
        tasks.assign_task(ctx, approve.id, actor=sue, assignee="sam")
    assert tasks.bulk_transition(ctx, [approve.id], actor=people["sam"], action="claim") == {
        approve.id: "permission_denied"}
    with ctx.sessions() as session:  # written on the task when it was created: the inbox never offers it to sam
        assert "sam" in session.get(HumanTask, uuid.UUID(approve.id)).excluded_names
    claim_and_complete(ctx, approve.id, sue, {"approved": True})
    assert instances.get_instance(ctx, approve.instance_id, actor=SYSTEM).status == "completed"


def test_whoever_started_the_case_does_not_approve_it(ctx, people, service_request, sue):
    _, approve = _handled(ctx, people["alice"], starter=sue)  # sue opened it for a customer, alice handled it
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        tasks.claim_task(ctx, approve.id, actor=sue)
    claim_and_complete(ctx, approve.id, people["sam"], {"approved": True})


def test_a_colleague_the_work_was_delegated_to_does_not_approve_it(ctx, people, service_request, sue):
    started = instances.start_instance(ctx, process_key="service_request", actor=people["alice"])
    [handle] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, handle.id, actor=people["alice"])
    tasks.delegate_task(ctx, handle.id, actor=people["alice"], to="sue")  # sue helps with the handling
    tasks.resolve_task(ctx, handle.id, actor=sue)
    tasks.complete_task(ctx, handle.id, actor=people["alice"], data={"resolution": "退款", "amount": 90_000})
    [approve] = open_tasks(ctx, started.id)
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        tasks.claim_task(ctx, approve.id, actor=sue)
    claim_and_complete(ctx, approve.id, people["sam"], {"approved": True})


def test_an_approver_who_joined_the_handling_after_the_task_was_created_is_refused_at_completion(
        ctx, people, service_request, sue):
    """The excluded names are fixed when the task is created; the performer rows are read again at completion."""
    _, approve = _handled(ctx, people["alice"])
    tasks.claim_task(ctx, approve.id, actor=sue)
    with ctx.sessions.begin() as session:  # sue is recorded as a performer of the handling afterwards
        four_eyes.record(session, uuid.UUID(approve.instance_id), "handle_request", "sue", "delegate", ctx.clock.now())
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        tasks.complete_task(ctx, approve.id, actor=sue, data={"approved": True})


def test_patching_a_failed_step_makes_the_supervisor_a_performer(ctx, people, sue):
    """patch-and-retry: the supervisor who corrected the data of a failed step may not approve that step."""
    xml = b.definitions(
        "patched",
        [b.start(), b.script_task("compute", "fee = base * 2"),
         b.user_task("approve_fee", candidateGroups="supervisors", approves="compute"), b.end()],
        [b.flow("start", "compute"), b.flow("compute", "approve_fee"), b.flow("approve_fee", "end")],
    )
    deploy(ctx, ("patched.bpmn", xml))
    started = instances.start_instance(ctx, process_key="patched", actor=SYSTEM)
    assert started.status == "error"  # base is missing
    assert instances.retry_instance(ctx, started.id, actor=people["sam"], data={"base": 21}).status == "running"
    [approve] = open_tasks(ctx, started.id)
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        tasks.claim_task(ctx, approve.id, actor=people["sam"])
    claim_and_complete(ctx, approve.id, sue, {})
