"""The workflow step's owner (engine.runtime.step): limits on user code, incidents, no lock while scripts run."""

from __future__ import annotations

import dataclasses
import threading
import uuid

import pytest
from sqlalchemy import select, update

from engine.context import build_engine
from engine.db.models import ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import InvalidTransitionError, StepFailedError
from engine.privacy import state_field
from engine.services import instances, tasks, timers
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks

RUNAWAY = {
    "loop": "while True:\n    x = 1\n",
    "swallowed": "while True:\n    try:\n        while True:\n            x = 1\n    except Exception:\n        x = 2\n",
    "finally_continue": "while True:\n    try:\n        while True:\n            x = 1\n    finally:\n        continue\n",
    "allocation": "x = 'a' * 10**9\n",
    "power": "x = 10 ** 10 ** 8\n",
    "padding": "x = 'a'.rjust(10**9)\n",
    "percent_width": "x = '%900000000d' % 1\n",
    "fstring_width": "w = 10**9\nx = f'{1:>{w}}'\n",
    "range_sum": "x = sum(range(10**12))\n",
    "doubling": "x = [0]\nwhile True:\n    x = x + x\n",
    "joining": "x = ','.join(['a' * 100000] * 1000)\n",
}


def _budget(settings, seconds):
    return dataclasses.replace(settings, scripts=dataclasses.replace(settings.scripts, time_budget=seconds))


@pytest.fixture
def quick(settings, db, clock):
    """An engine whose scripts get 0.3 s per step (the default is 1 s)."""
    context = build_engine(_budget(settings, 0.3), clock=clock, db=db)
    yield context


def _start_script(ctx, script: str, pid: str = "runaway"):
    deploy(ctx, (f"{pid}.bpmn", b.linear(pid, b.script_task("work", script), b.user_task("after"))))
    return instances.start_instance(ctx, process_key=pid, actor=SYSTEM)


@pytest.mark.parametrize("name", sorted(RUNAWAY))
def test_a_runaway_script_fails_its_own_instance_with_a_clear_message(quick, name):
    started = _start_script(quick, RUNAWAY[name])
    assert started.status == "error"
    assert "limit of the process sandbox" in started.error["message"]
    assert open_tasks(quick, started.id) == []  # it never got past the script


def test_a_legitimate_script_still_runs(quick):
    started = _start_script(quick, "total = sum([1, 2, 3]) * 2\nlabel = f'{total:>4}' + 'ab' * 3\n"
                                   "try:\n    y = 1 / 0\nexcept ZeroDivisionError:\n    y = 0\n")
    assert started.status == "running"
    assert [t.task_name for t in open_tasks(quick, started.id)] == ["after"]


def test_the_write_lock_is_free_while_a_script_runs(settings, db, clock, people):
    """Another user's claim is stored while a runaway script spends its budget (SQLite has one write lock).

    The script gets 2 s: the claim competes with it for the interpreter lock, not for the database."""
    quick = build_engine(_budget(settings, 2.0), clock=clock, db=db)
    deploy(quick, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team"))))
    other = instances.start_instance(quick, process_key="p", actor=SYSTEM)
    [task] = open_tasks(quick, other.id)
    deploy(quick, ("slow.bpmn", b.linear("slow", b.script_task("spin", "while True:\n    x = 1\n"))))
    finished = threading.Event()
    results: list[object] = []

    def run_slow() -> None:
        results.append(instances.start_instance(quick, process_key="slow", actor=SYSTEM))
        finished.set()

    thread = threading.Thread(target=run_slow)
    thread.start()
    claimed = tasks.claim_task(quick, task.id, actor=people["alice"])
    claimed_before_the_script_ended = not finished.is_set()
    thread.join()
    assert claimed.assignee == "alice"
    assert claimed_before_the_script_ended
    assert results[0].status == "error"


def _deep_nesting(depth: int) -> str:
    return f"x = []\nfor i in range({depth}):\n    x = [x]\n"


def test_a_state_that_cannot_be_stored_is_an_incident_not_a_retry_loop(ctx, people, clock):
    """A completion whose next step builds data too deep to serialize: the completion is refused, the instance goes
    to error with the cause, and the timer sweep leaves it alone (it was retried every second before)."""
    deploy(ctx, ("deep.bpmn", b.linear("deep", b.user_task("fill", candidateGroups="service_team"),
                                       b.script_task("nest", _deep_nesting(3000)), b.user_task("after"))))
    started = instances.start_instance(ctx, process_key="deep", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    with pytest.raises(StepFailedError) as raised:
        tasks.complete_task(ctx, task.id, actor=people["alice"], data={})
    assert "could not be stored" in raised.value.message
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    assert view.status == "error" and "RecursionError" in view.error["message"]
    assert [h.action for h in view.history][-1] == "instance.failed"
    [still_open] = open_tasks(ctx, started.id)  # the completion rolled back with the step
    assert still_open.id == task.id and still_open.status == "claimed"
    assert timers.fire_due_timers(ctx).failed == 0
    cancelled = instances.cancel_instance(ctx, started.id, actor=people["sam"], reason="poison")
    assert cancelled.status == "cancelled"


def test_an_instance_whose_state_cannot_be_restored_can_still_be_terminated(ctx, people):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    with unit_of_work(ctx.sessions) as session:
        session.execute(update(ProcessInstance).where(ProcessInstance.id == uuid.UUID(started.id))
                        .values(state=ctx.cipher.seal('{"careflow_state": 1, "workflow": {"broken": true}}',
                                                     state_field(started.id)),
                                status="error"))
    with pytest.raises(StepFailedError):
        instances.retry_instance(ctx, started.id, actor=people["sam"])
    view = instances.cancel_instance(ctx, started.id, actor=people["sam"], reason="state lost")
    assert view.status == "cancelled"
    assert open_tasks(ctx, started.id) == []
    with pytest.raises(InvalidTransitionError):
        instances.cancel_instance(ctx, started.id, actor=people["sam"])


def test_a_refused_command_stores_nothing(ctx, people):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    with pytest.raises(InvalidTransitionError):
        tasks.complete_task(ctx, task.id, actor=people["alice"], data={})  # not claimed
    with unit_of_work(ctx.sessions, write=False) as session:
        revision = session.scalar(select(ProcessInstance.revision).where(ProcessInstance.id == uuid.UUID(started.id)))
    assert revision == 1


def test_the_process_memory_backstop_turns_a_huge_allocation_into_a_memory_error():
    """careflow serve and scheduler cap their heap (CAREFLOW_WORKER_MEMORY_MB): a run-away allocation that slipped
    past the per-step fences raises MemoryError in the step instead of taking the machine's memory."""
    import subprocess
    import sys

    code = ("from engine.bpmn.limits import cap_process_memory\n"
            "assert cap_process_memory(300)\n"
            "try:\n    bytearray(800 * 1024 * 1024)\nexcept MemoryError:\n    print('refused')\n"
            "bytearray(50 * 1024 * 1024)\nprint('still working')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["refused", "still", "working"], done.stderr
