"""Scenario tests for BPMN elements that SpiffWorkflow 3.2.0 runs and CareFlow passes through as they are: each
backs a "yes" in the README's BPMN coverage table (the elements CareFlow builds itself are in
``tests/unit/test_bpmn_elements.py``). Each test runs through the services, storing and restoring the instance
between steps."""

from __future__ import annotations

import uuid

from engine.db.models import ProcessInstance
from engine.db.session import unit_of_work
from engine.runtime.instance import restore
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

GROUP = {"candidateGroups": "service_team"}


def _run(ctx, pid, elements, flows, root="", **variables):
    deploy(ctx, (f"{pid}.bpmn", b.definitions(pid, elements, [b.flow(*f) for f in flows], root=root)))
    return instances.start_instance(ctx, process_key=pid, actor=SYSTEM, variables=variables).id


def _names(ctx, instance_id):
    return sorted(t.task_name for t in open_tasks(ctx, instance_id))


def _view(ctx, instance_id):
    return instances.get_instance(ctx, instance_id, actor=SYSTEM)


def _data(ctx, clock, instance_id):
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(ProcessInstance, uuid.UUID(str(instance_id)))
        workflow = restore(ctx, session, row, clock)
        return workflow.data if workflow.is_completed() else workflow.last_task.data


def _complete(ctx, people, instance_id, name, data=None):
    task = next(t for t in open_tasks(ctx, instance_id) if t.task_name == name)
    claim_and_complete(ctx, task.id, people["alice"], data)


def test_terminate_end_event_ends_every_branch(ctx, people):
    started = _run(ctx, "term", [b.start(), '<bpmn:parallelGateway id="fork"/>', b.user_task("a", **GROUP),
                                 b.user_task("b", **GROUP),
                                 '<bpmn:endEvent id="stop"><bpmn:terminateEventDefinition/></bpmn:endEvent>', b.end()],
                   [("start", "fork"), ("fork", "a"), ("fork", "b"), ("a", "stop"), ("b", "end")])
    assert _names(ctx, started) == ["a", "b"]
    _complete(ctx, people, started, "a")
    assert _view(ctx, started).status == "completed" and _names(ctx, started) == []


def test_error_end_event_in_a_subprocess_is_caught_by_its_error_boundary(ctx, clock, people):
    root = '<bpmn:error id="declined" name="declined" errorCode="DECLINED"/>'
    sub = ('<bpmn:subProcess id="check"><bpmn:startEvent id="s"/><bpmn:userTask id="verify"/>'
           '<bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="declined"/></bpmn:endEvent>'
           '<bpmn:sequenceFlow id="s1" sourceRef="s" targetRef="verify"/>'
           '<bpmn:sequenceFlow id="s2" sourceRef="verify" targetRef="fail"/></bpmn:subProcess>')
    boundary = ('<bpmn:boundaryEvent id="on_declined" attachedToRef="check">'
                '<bpmn:errorEventDefinition errorRef="declined"/></bpmn:boundaryEvent>')
    started = _run(ctx, "err", [b.start(), sub, boundary, b.script_task("handled", "outcome = 'declined'"),
                                b.end(), '<bpmn:endEvent id="ok"/>'],
                   [("start", "check"), ("check", "ok"), ("on_declined", "handled"), ("handled", "end")], root=root)
    _complete(ctx, people, started, "verify")
    assert _view(ctx, started).status == "completed"
    assert _data(ctx, clock, started)["outcome"] == "declined"


def test_escalation_from_a_subprocess_reaches_a_non_interrupting_boundary(ctx, people):
    root = '<bpmn:escalation id="late" name="late" escalationCode="LATE"/>'
    sub = ('<bpmn:subProcess id="work"><bpmn:startEvent id="s"/>'
           '<bpmn:intermediateThrowEvent id="raise"><bpmn:escalationEventDefinition escalationRef="late"/>'
           '</bpmn:intermediateThrowEvent><bpmn:userTask id="finish"/><bpmn:endEvent id="e"/>'
           '<bpmn:sequenceFlow id="s1" sourceRef="s" targetRef="raise"/>'
           '<bpmn:sequenceFlow id="s2" sourceRef="raise" targetRef="finish"/>'
           '<bpmn:sequenceFlow id="s3" sourceRef="finish" targetRef="e"/></bpmn:subProcess>')
    boundary = ('<bpmn:boundaryEvent id="on_late" attachedToRef="work" cancelActivity="false">'
                '<bpmn:escalationEventDefinition escalationRef="late"/></bpmn:boundaryEvent>')
    started = _run(ctx, "esc", [b.start(), sub, boundary, b.user_task("supervise", **GROUP), b.end(),
                                '<bpmn:endEvent id="e2"/>'],
                   [("start", "work"), ("work", "end"), ("on_late", "supervise"), ("supervise", "e2")], root=root)
    assert _names(ctx, started) == ["finish", "supervise"]


def test_signal_thrown_in_one_branch_is_caught_in_another(ctx, people):
    root = '<bpmn:signal id="go" name="go"/>'
    started = _run(ctx, "sig", [b.start(), '<bpmn:parallelGateway id="fork"/>', b.user_task("a", **GROUP),
                                '<bpmn:intermediateThrowEvent id="send_go"><bpmn:signalEventDefinition signalRef="go"/>'
                                '</bpmn:intermediateThrowEvent>',
                                '<bpmn:intermediateCatchEvent id="wait_go"><bpmn:signalEventDefinition signalRef="go"/>'
                                '</bpmn:intermediateCatchEvent>', b.user_task("b", **GROUP), b.end(),
                                '<bpmn:endEvent id="e2"/>'],
                   [("start", "fork"), ("fork", "a"), ("a", "send_go"), ("send_go", "end"), ("fork", "wait_go"),
                    ("wait_go", "b"), ("b", "e2")], root=root)
    assert _names(ctx, started) == ["a"]
    _complete(ctx, people, started, "a")
    assert _names(ctx, started) == ["b"]


def test_inclusive_gateway_takes_every_true_branch_and_joins_them(ctx, people):
    started = _run(ctx, "incl", [b.start(), '<bpmn:inclusiveGateway id="split" default="f_none"/>',
                                 b.user_task("a", **GROUP), b.user_task("b", **GROUP), b.user_task("c", **GROUP),
                                 '<bpmn:inclusiveGateway id="join"/>', b.end()],
                   [("start", "split"), ("split", "a", "x > 1"), ("split", "b", "x > 5"),
                    ("split", "c", None, "f_none"), ("a", "join"), ("b", "join"), ("c", "join"), ("join", "end")],
                   x=3)
    assert _names(ctx, started) == ["a"]
    _complete(ctx, people, started, "a")
    assert _view(ctx, started).status == "completed"


def test_parallel_multi_instance_user_task_makes_one_task_per_item(ctx, people):
    mi = ('<bpmn:userTask id="approve"><bpmn:multiInstanceLoopCharacteristics>'
          '<bpmn:loopDataInputRef>approvers</bpmn:loopDataInputRef><bpmn:inputDataItem id="approver"/>'
          '</bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>')
    started = _run(ctx, "mi", [b.start(), mi, b.end()], [("start", "approve"), ("approve", "end")],
                   approvers=["x", "y", "z"])
    assert len(open_tasks(ctx, started)) == 3
    for _ in range(3):
        claim_and_complete(ctx, open_tasks(ctx, started)[0].id, people["alice"])
    assert _view(ctx, started).status == "completed"


def test_call_activity_runs_the_called_process(ctx, people):
    called = b.definitions("called", [b.start("cs"), b.user_task("inner", **GROUP), b.end("ce")],
                           [b.flow("cs", "inner"), b.flow("inner", "ce")])
    caller = b.definitions("caller", [b.start(), '<bpmn:callActivity id="call" calledElement="called"/>', b.end()],
                           [b.flow("start", "call"), b.flow("call", "end")])
    deploy(ctx, ("caller.bpmn", caller), ("called.bpmn", called), process_key="caller")
    started = instances.start_instance(ctx, process_key="caller", actor=SYSTEM).id
    assert _names(ctx, started) == ["inner"]
    _complete(ctx, people, started, "inner")
    assert _view(ctx, started).status == "completed"


def test_manual_task_is_a_person_s_task(ctx, people):
    started = _run(ctx, "man", [b.start(), '<bpmn:manualTask id="sign"/>', b.end()],
                   [("start", "sign"), ("sign", "end")])
    assert _names(ctx, started) == ["sign"]


def test_standard_loop_repeats_until_its_condition(ctx, clock, people):
    loop = ('<bpmn:scriptTask id="count"><bpmn:standardLoopCharacteristics>'
            '<bpmn:loopCondition>n &gt;= 3</bpmn:loopCondition></bpmn:standardLoopCharacteristics>'
            '<bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>')
    started = _run(ctx, "loop", [b.start(), loop, b.user_task("look", **GROUP), b.end()],
                   [("start", "count"), ("count", "look"), ("look", "end")], n=0)
    assert _names(ctx, started) == ["look"]


def test_data_object_written_by_a_task_is_kept_at_the_process_level(ctx, clock, people):
    elements = [b.start(), '<bpmn:dataObject id="case_doc"/>',
                '<bpmn:dataObjectReference id="ref_w" dataObjectRef="case_doc"/>',
                '<bpmn:scriptTask id="write"><bpmn:dataOutputAssociation id="o1"><bpmn:targetRef>ref_w'
                '</bpmn:targetRef></bpmn:dataOutputAssociation><bpmn:script>case_doc = "v1"</bpmn:script>'
                '</bpmn:scriptTask>',
                b.user_task("look", **GROUP), b.end()]
    started = _run(ctx, "dobj", elements, [("start", "write"), ("write", "look"), ("look", "end")])
    assert _names(ctx, started) == ["look"]
    with unit_of_work(ctx.sessions, write=False) as session:
        workflow = restore(ctx, session, session.get(ProcessInstance, uuid.UUID(str(started))), clock)
    assert workflow.data_objects == {"case_doc": "v1"}  # kept at the process level, not in the task's data
    assert "case_doc" not in workflow.last_task.data


def test_a_lane_names_the_default_candidate_group(ctx, people):
    lanes = ('<bpmn:laneSet id="lanes"><bpmn:lane id="lane_service" name="service_team">'
             '<bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>work</bpmn:flowNodeRef>'
             '<bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>')
    started = _run(ctx, "laned", [lanes, b.start(), '<bpmn:userTask id="work"/>', b.end()],
                   [("start", "work"), ("work", "end")])
    [task] = open_tasks(ctx, started)
    assert task.lane == "service_team" and task.candidate_groups == ("service_team",)
