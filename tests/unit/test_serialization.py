"""Stored state: save/restore round trips and golden files from earlier state versions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.bpmn.serializer import STATE_VERSION, dump_state, load_state
from engine.db.models import ProcessInstance
from engine.privacy import state_field
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

GOLDEN = Path(__file__).parent.parent / "fixtures" / "serialized"


def golden_process() -> bytes:
    """The process the golden state files were written with: never change it."""
    return b.definitions(
        "golden",
        [b.start(), b.user_task("intake", candidateGroups="service_team"),
         b.script_task("score", "score = amount * 2 if amount else 0"),
         b.gateway("big", default="flow_big_small"), b.user_task("approve", candidateGroups="supervisors"),
         b.user_task("small", candidateGroups="service_team"), b.end(), b.end("e2")],
        [b.flow("start", "intake"), b.flow("intake", "score"), b.flow("score", "big"),
         b.flow("big", "approve", "score > 100"), b.flow("big", "small"), b.flow("approve", "end"),
         b.flow("small", "e2")],
    )


def test_golden_state_v1_loads_and_runs_to_the_end(ctx, people, db):
    """A state stored by STATE_VERSION 1 (at the 'approve' task) must still run to completion."""
    deploy(ctx, ("golden.bpmn", golden_process()))
    started = instances.start_instance(ctx, process_key="golden", actor=SYSTEM)
    text = (GOLDEN / "golden_v1_at_approve.json").read_text()
    with Session(db) as session:  # put the old stored state in place of the fresh one
        session.execute(update(ProcessInstance).where(ProcessInstance.id == uuid.UUID(started.id))
                        .values(state=text))
        session.commit()
    workflow_tasks = json.loads(text)["workflow"]["tasks"]
    approve_id = next(t["id"] for t in workflow_tasks.values() if t["task_spec"] == "approve" and t["state"] == 16)
    from engine.runtime import instance as runtime
    from engine.runtime.projection import project  # rebuild query rows as a migration would

    with ctx.sessions.begin() as session:
        row = session.get(ProcessInstance, uuid.UUID(started.id))
        project(session, row, runtime.restore(ctx, session, row, ctx.clock), ctx.clock.now(), new=False,
                shaping=ctx.shaping())
    [task] = open_tasks(ctx, started.id)
    assert task.id == approve_id and task.task_name == "approve"
    claim_and_complete(ctx, task.id, people["sam"])
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


def test_round_trip_at_every_step_equals_an_uninterrupted_run(ctx, people):
    deploy(ctx, ("golden.bpmn", golden_process()))
    started = instances.start_instance(ctx, process_key="golden", actor=SYSTEM, variables={"customer": "王芳"})
    [intake] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, intake.id, people["alice"], {"amount": 60})
    [approve] = open_tasks(ctx, started.id)
    from engine.services.tasks import get_task

    data = get_task(ctx, approve.id, actor=people["sam"]).data
    assert data == {"customer": "王芳", "amount": 60, "score": 120}
    claim_and_complete(ctx, approve.id, people["sam"])
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


def test_dump_and_load_are_inverse(ctx):
    from engine.runtime import instance as runtime

    deploy(ctx, ("golden.bpmn", golden_process()))
    bundle = next(ctx.specs.get(i) for i in range(1, 10) if ctx.specs.get(i))
    engine = runtime.script_engine(ctx, ctx.clock, None)
    workflow = runtime.new_workflow(bundle, engine, {"amount": 7})
    workflow.do_engine_steps()
    text = dump_state(workflow)
    again = load_state(text, bundle.spec, bundle.subprocess_specs, engine)
    assert dump_state(again) == text
    assert json.loads(text)["careflow_state"] == STATE_VERSION


def _subprocess_process() -> bytes:
    """Data changed on the way and a task inside an embedded subprocess. (A script's ``del`` does not reach the
    task data in SpiffWorkflow: scripts update the data with what they leave, they never remove keys.)"""
    inner = (
        '<bpmn:subProcess id="sub"><bpmn:startEvent id="sub_start"/>'
        + b.script_task("inner_script", "inner = amount + 1\ndel note")
        + b.user_task("inner_task", candidateGroups="service_team")
        + '<bpmn:endEvent id="sub_end"/>'
        + '<bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="inner_script"/>'
        + '<bpmn:sequenceFlow id="s2" sourceRef="inner_script" targetRef="inner_task"/>'
        + '<bpmn:sequenceFlow id="s3" sourceRef="inner_task" targetRef="sub_end"/></bpmn:subProcess>'
    )
    return b.definitions(
        "nested",
        [b.start(), b.script_task("prepare", "amount = amount * 2\nnote = 'tmp'\nlabels = {'a': [1, 2]}"),
         b.user_task("outer_task", candidateGroups="service_team"), inner, b.end()],
        [b.flow("start", "prepare"), b.flow("prepare", "outer_task"), b.flow("outer_task", "sub"),
         b.flow("sub", "end")],
    )


def test_a_tasks_stored_data_is_read_without_restoring_the_workflow(ctx, people):
    """task_data walks SpiffWorkflow's per-task deltas; for every task of the state it must give exactly the data
    a full restore gives, inside the subprocess too."""
    from engine.bpmn.serializer import task_data
    from engine.runtime import instance as runtime
    from engine.services.tasks import get_task

    deploy(ctx, ("nested.bpmn", _subprocess_process()))
    started = instances.start_instance(ctx, process_key="nested", actor=SYSTEM, variables={"amount": 20})
    [outer] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, outer.id, people["alice"], {"answer": "好"})
    [inner] = open_tasks(ctx, started.id)
    opened = get_task(ctx, inner.id, actor=people["alice"]).data
    assert opened == {"amount": 40, "note": "tmp", "labels": {"a": [1, 2]}, "answer": "好", "inner": 41}
    with ctx.sessions.begin() as session:
        row = session.get_one(ProcessInstance, uuid.UUID(started.id))
        text = ctx.cipher.unseal(row.state, state_field(row.id))
        workflow = runtime.restore(ctx, session, row, ctx.clock)
    every = [*workflow.tasks.values(), *(t for sub in workflow.subprocesses.values() for t in sub.tasks.values())]
    assert len(every) > 10
    for task in every:
        assert task_data(text, str(task.id)) == task.data, task.task_spec.name
    assert task_data(text, str(uuid.uuid4())) is None
    assert opened == workflow.get_task_from_id(uuid.UUID(inner.id)).data
