"""Each SpiffWorkflow 3.2.0 bug CareFlow works around: the stock failure, then ours working.

If an upgrade of SpiffWorkflow fixes a bug, its ``test_stock_…`` test fails: that is the
signal to drop the work-around.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.loader import SourceFile, parse_bundle
from engine.bpmn.workflow import CareflowScriptEngine, CareflowWorkflow
from engine.clock import FrozenClock
from engine.services import instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks

START = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)


def _three_timers() -> bytes:
    """docs/spiffworkflow.md §4 bug 1: an SLA timer, a reminder cycle and a date timer on one task."""
    return b.definitions(
        "sla",
        [b.start(), b.user_task("answer", candidateGroups="service_team"),
         b.timer_boundary("sla_timer", "answer", "duration", '"PT48H"'),
         b.timer_boundary("remind", "answer", "cycle", '"R2/PT24H"', cancel=False),
         b.timer_boundary("deadline", "answer", "date", '"2026-01-20T09:00:00+08:00"'),
         b.script_task("escalate", "escalated = True"), b.script_task("note", "reminded = True"),
         b.end(), b.end("e_sla"), b.end("e_note"), b.end("e_deadline")],
        [b.flow("start", "answer"), b.flow("answer", "end"), b.flow("sla_timer", "escalate"),
         b.flow("escalate", "e_sla"), b.flow("remind", "note"), b.flow("note", "e_note"),
         b.flow("deadline", "e_deadline")],
    )


def _workflow(cls: type, clock: FrozenClock) -> object:
    bundle = parse_bundle([SourceFile("sla.bpmn", _three_timers())], handlers=None)
    engine = CareflowScriptEngine(clock=clock, zone=ZoneInfo("Asia/Shanghai"), handlers={})
    workflow = cls(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    workflow.do_engine_steps()
    return workflow


def test_stock_refresh_timers_resurrects_a_cancelled_timer():
    clock = FrozenClock(START)
    workflow = _workflow(BpmnWorkflow, clock)
    clock.advance(timedelta(hours=49))  # the SLA and a reminder are due in the same refresh
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert not workflow.is_completed()  # stuck: the cancelled date timer is WAITING again
    assert any(t.task_spec.bpmn_id == "deadline" and t.state == TaskState.WAITING for t in workflow.get_tasks())


def test_careflow_refresh_timers_completes_the_instance():
    clock = FrozenClock(START)
    workflow = _workflow(CareflowWorkflow, clock)
    clock.advance(timedelta(hours=49))
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.last_task.data.get("escalated") is True or any(
        t.data.get("escalated") for t in workflow.get_tasks(state=TaskState.COMPLETED))


def test_late_sweep_with_two_overdue_timers_completes_through_the_services(ctx, clock):
    deploy(ctx, ("sla.bpmn", _three_timers()))
    started = instances.start_instance(ctx, process_key="sla", actor=SYSTEM)
    clock.advance(timedelta(hours=49))
    assert fire_due_timers(ctx).fired == 1
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    assert view.status == "completed" and view.timers == [] and view.open_tasks == []


def _service_process() -> bytes:
    return b.linear("svc", b.service_task("lookup", "core.lookup", result="customer", cid="customer_id"))


def test_stock_call_service_hides_the_real_error_behind_name_error():
    class Failing(PythonScriptEngine):  # the stock path, with an environment that fails
        pass

    class Env:
        def call_service(self, *args, **kwargs):
            raise ConnectionError("core banking unreachable")

    bundle = parse_bundle([SourceFile("svc.bpmn", _service_process())], handlers=None)
    engine = Failing()
    engine.environment.call_service = Env().call_service
    workflow = BpmnWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    workflow.task_tree.data.update(customer_id="C9")
    with pytest.raises(NameError, match="script"):
        workflow.do_engine_steps()


def test_careflow_service_failure_keeps_the_real_cause(ctx):
    def lookup(params, call):
        raise ConnectionError(f"core banking unreachable for {params['cid']}")

    ctx.register_handler("core.lookup", lookup)
    deploy(ctx, ("svc.bpmn", _service_process()))
    started = instances.start_instance(ctx, process_key="svc", actor=SYSTEM, variables={"customer_id": "C9"})
    assert started.status == "error"
    assert started.error["message"] == "Service core.lookup failed: core banking unreachable for C9"
    assert started.error["task"] == "lookup"


def test_service_results_are_json_encoded_for_the_library(ctx):
    from decimal import Decimal

    def lookup(params, call):
        return {"id": params["cid"], "aum": Decimal("1250000.50"), "at": call.now}

    ctx.register_handler("core.lookup", lookup)
    deploy(ctx, ("svc.bpmn", b.linear("svc", b.service_task("lookup", "core.lookup", result="customer",
                                                             cid="customer_id"),
                                      b.user_task("look", candidateGroups="service_team"))))
    started = instances.start_instance(ctx, process_key="svc", actor=SYSTEM, variables={"customer_id": "C9"})
    [task] = open_tasks(ctx, started.id)
    from engine.services.tasks import get_task

    data = get_task(ctx, task.id, actor=SYSTEM).data
    assert data["customer"] == {"id": "C9", "aum": "1250000.50", "at": str(ctx.clock.now())}
    json.dumps(data)


def test_unknown_handler_at_run_time_is_an_instance_error_not_a_crash():
    bundle = parse_bundle([SourceFile("svc.bpmn", _service_process())], handlers=None)
    engine = CareflowScriptEngine(clock=FrozenClock(START), zone=ZoneInfo("UTC"), handlers={})
    workflow = CareflowWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    workflow.task_tree.data.update(customer_id="C9")
    with pytest.raises(WorkflowTaskException, match="No service handler named 'core.lookup'"):
        workflow.do_engine_steps()


def _loop(laps: int) -> bytes:
    return b.definitions(
        "loop",
        [b.start(), b.script_task("count", "i = i + 1"), b.gateway("again", default="flow_again_end"), b.end()],
        [b.flow("start", "count"), b.flow("count", "again"), b.flow("again", "count", f"i < {laps}", id="back"),
         b.flow("again", "end")],
    )


def _run_loop(cls: type, laps: int) -> object:
    bundle = parse_bundle([SourceFile("loop.bpmn", _loop(laps))], handlers=None)
    engine = CareflowScriptEngine(clock=FrozenClock(START), zone=ZoneInfo("UTC"), handlers={})
    workflow = cls(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    workflow.task_tree.data.update(i=0)
    workflow.do_engine_steps()
    return workflow


def test_stock_iteration_loses_a_long_loop_silently():
    workflow = _run_loop(BpmnWorkflow, 700)
    # No error: the loop just stops at depth 1000 (500 laps) and the end event is never run.
    assert workflow.last_task.data["i"] == 500 and "i" not in workflow.data


def test_careflow_workflow_runs_a_long_loop_to_the_end():
    workflow = _run_loop(CareflowWorkflow, 700)
    assert workflow.is_completed() and workflow.last_task.data["i"] == 700 and workflow.data["i"] == 700
