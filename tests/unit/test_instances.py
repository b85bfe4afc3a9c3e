"""Starting, inspecting, cancelling and retrying instances."""

from __future__ import annotations

import uuid

import pytest

from engine.db.models import ProcessInstance
from engine.errors import (
    DefinitionNotFoundError,
    DuplicateBusinessKeyError,
    InstanceNotFoundError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
)
from engine.privacy import state_field
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks


def test_start_runs_to_the_first_user_task(ctx, people):
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=people["alice"], business_key="REQ-1",
                                       customer_id="C001", variables={"subject": "card lost"})
    assert started.status == "running" and started.definition_version == 1
    view = instances.get_instance(ctx, started.id, actor=people["alice"])
    [task] = view.open_tasks
    assert (task.task_name, task.title, task.status, task.customer_id) == ("review", "Review request", "open", "C001")
    assert task.candidate_groups == ("service_team",)
    assert [h.action for h in view.history] == ["instance.started"]


def test_business_key_is_unique_per_process(ctx, people):
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    instances.start_instance(ctx, process_key="simple", actor=people["alice"], business_key="K")
    with pytest.raises(DuplicateBusinessKeyError):
        instances.start_instance(ctx, process_key="simple", actor=people["alice"], business_key="K")


@pytest.mark.parametrize("variables", [["x"], {"not id": 1}, {"x": object()}])
def test_start_rejects_bad_variables(ctx, people, variables):
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    with pytest.raises(InvalidInputError):
        instances.start_instance(ctx, process_key="simple", actor=people["alice"], variables=variables)


def test_unknown_process_and_instance(ctx, people):
    with pytest.raises(DefinitionNotFoundError):
        instances.start_instance(ctx, process_key="nope", actor=people["alice"])
    with pytest.raises(InstanceNotFoundError):
        instances.get_instance(ctx, str(uuid.uuid4()), actor=people["alice"])
    with pytest.raises(InvalidInputError):
        instances.get_instance(ctx, "not-a-uuid", actor=people["alice"])


def test_instance_runs_to_completion_and_clears_its_tasks(ctx, people):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("one", candidateGroups="service_team"),
                                   b.script_task("calc", "total = amount * 2"))))
    started = instances.start_instance(ctx, process_key="p", actor=people["alice"])
    [task] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, task.id, people["alice"], {"amount": 21})
    view = instances.get_instance(ctx, started.id, actor=people["alice"])
    assert view.status == "completed" and view.ended_at is not None and view.open_tasks == []


def test_failing_script_marks_the_instance_in_error_and_retry_resumes(ctx, people, db):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("enter", candidateGroups="service_team"),
                                   b.script_task("divide", "share = total / parts"),
                                   b.user_task("check", candidateGroups="service_team"))))
    started = instances.start_instance(ctx, process_key="p", actor=people["alice"])
    [task] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, task.id, people["alice"], {"total": 10, "parts": 0})
    failed = instances.get_instance(ctx, started.id, actor=people["sam"])
    assert failed.status == "error"
    assert failed.error["task"] == "divide" and "ZeroDivisionError" in failed.error["message"]
    assert failed.open_tasks == []
    with pytest.raises(PermissionDeniedError):
        instances.retry_instance(ctx, started.id, actor=people["alice"])
    still = instances.retry_instance(ctx, started.id, actor=people["sam"])  # same data: fails again
    assert still.status == "error"
    fixed = instances.retry_instance(ctx, started.id, actor=people["sam"], data={"parts": 2})
    assert fixed.status == "running" and fixed.error is None
    [check] = open_tasks(ctx, started.id)
    assert check.task_name == "check"
    actions = [h.action for h in instances.get_instance(ctx, started.id, actor=people["sam"]).history]
    assert actions == ["instance.started", "task.claim", "task.complete", "instance.failed",
                       "instance.retried", "instance.retried"]
    with pytest.raises(InvalidTransitionError):
        instances.retry_instance(ctx, started.id, actor=people["sam"])


def test_failing_first_step_still_creates_the_instance_in_error(ctx, people):
    deploy(ctx, ("p.bpmn", b.linear("p", b.script_task("boom", "x = undefined_name"))))
    started = instances.start_instance(ctx, process_key="p", actor=people["alice"])
    assert started.status == "error"
    assert "undefined_name" in started.error["message"] and started.error["task"] == "boom"


def test_cancel_closes_tasks_and_timers(ctx, people, db):
    deploy(ctx, ("p.bpmn", b.definitions(
        "p", [b.start(), b.user_task("work", candidateGroups="service_team"),
              b.timer_boundary("late", "work", "duration", '"P2D"'), b.end(), b.end("e2")],
        [b.flow("start", "work"), b.flow("work", "end"), b.flow("late", "e2")])))
    started = instances.start_instance(ctx, process_key="p", actor=people["alice"])
    assert len(instances.get_instance(ctx, started.id, actor=SYSTEM).timers) == 1
    with pytest.raises(PermissionDeniedError):
        instances.cancel_instance(ctx, started.id, actor=people["alice"])
    cancelled = instances.cancel_instance(ctx, started.id, actor=people["sam"], reason="customer withdrew")
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    assert cancelled.status == view.status == "cancelled"
    assert view.open_tasks == [] and view.timers == []
    assert view.history[-1].details == {"reason": "customer withdrew"}
    with pytest.raises(InvalidTransitionError):
        instances.cancel_instance(ctx, started.id, actor=people["sam"])


def test_stored_state_leaves_the_spec_out(ctx, people, db):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=people["alice"],
                                       variables={"id_number": "11010519491231002X"})
    with Session(db) as session:
        state = session.scalars(select(ProcessInstance.state).where(ProcessInstance.id == uuid.UUID(started.id))).one()
    assert state.startswith("z2:k1:") and "11010519491231002X" not in state  # sealed: form data is personal data
    plain = ctx.cipher.unseal(state, state_field(started.id))
    assert '"spec"' not in plain and '"subprocess_specs"' not in plain and "11010519491231002X" in plain
    assert len(state.encode()) < 4096
