"""Clock-aware timers and the due-timer sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.bpmn.timers import stock_timer_definitions
from engine.services import instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


def _escalation(ctx, expression='"P2D"', kind="duration"):
    xml = b.definitions(
        "esc",
        [b.start(), b.user_task("answer", candidateGroups="service_team"),
         b.timer_boundary("late", "answer", kind, expression),
         b.user_task("escalated", candidateGroups="supervisors"), b.end(), b.end("e2")],
        [b.flow("start", "answer"), b.flow("answer", "end"), b.flow("late", "escalated"),
         b.flow("escalated", "e2")],
    )
    deploy(ctx, ("esc.bpmn", xml))
    return instances.start_instance(ctx, process_key="esc", actor=SYSTEM)


def test_loaded_specs_hold_no_wall_clock_timers(ctx):
    _escalation(ctx)
    [bundle] = [ctx.specs.get(i) for i in range(1, 5) if ctx.specs.get(i)]
    assert stock_timer_definitions([bundle.spec, *bundle.subprocess_specs.values()]) == []


def test_boundary_timer_fires_exactly_at_due_time(ctx, clock):
    started = _escalation(ctx)
    [timer] = instances.get_instance(ctx, started.id, actor=SYSTEM).timers
    assert timer.due_at == clock.now() + timedelta(days=2)
    clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert fire_due_timers(ctx).fired == 0
    assert [t.task_name for t in open_tasks(ctx, started.id)] == ["answer"]
    clock.advance(timedelta(seconds=1))
    sweep = fire_due_timers(ctx)
    assert (sweep.fired, sweep.failed, sweep.instances) == (1, 0, (started.id,))
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    assert [t.task_name for t in view.open_tasks] == ["escalated"] and view.timers == []
    assert view.history[-1].action == "timer.fired"
    assert fire_due_timers(ctx).fired == 0  # nothing fires twice


def test_catch_up_after_downtime_fires_each_overdue_timer_once(ctx, clock):
    started = [_escalation(ctx).id] + [instances.start_instance(ctx, process_key="esc", actor=SYSTEM).id
                                       for _ in range(4)]
    clock.advance(timedelta(days=5))  # the scheduler was down for three days past due
    sweep = fire_due_timers(ctx, limit=2)  # small batches: the sweep still takes them all
    assert sweep.fired == 5 and sorted(sweep.instances) == sorted(started)
    assert fire_due_timers(ctx).fired == 0


def test_explicit_now_overrides_the_clock(ctx, clock):
    started = _escalation(ctx)
    assert fire_due_timers(ctx, now=clock.now() + timedelta(days=3)).fired == 1
    assert [t.task_name for t in open_tasks(ctx, started.id)] == ["escalated"]


def test_naive_time_date_is_read_in_the_banks_zone(ctx, clock):
    started = _escalation(ctx, '"2025-03-04T09:00:00"', kind="date")
    [timer] = instances.get_instance(ctx, started.id, actor=SYSTEM).timers
    assert timer.due_at == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai


def test_timer_expression_from_a_process_variable(ctx, clock):
    xml = b.linear("wait", b.timer_catch("pause", "duration", "cooling_off"),
                   b.user_task("call", candidateGroups="service_team"))
    deploy(ctx, ("wait.bpmn", xml))
    started = instances.start_instance(ctx, process_key="wait", actor=SYSTEM, variables={"cooling_off": "PT24H"})
    clock.advance(timedelta(hours=24))
    fire_due_timers(ctx)
    assert [t.task_name for t in open_tasks(ctx, started.id)] == ["call"]


def test_non_interrupting_cycle_reminds_repeatedly(ctx, clock):
    xml = b.definitions(
        "remind",
        [b.start(), b.user_task("answer", candidateGroups="service_team"),
         b.timer_boundary("nudge", "answer", "cycle", '"R3/PT1H"', cancel=False),
         b.user_task("reminder", candidateGroups="supervisors"), b.end(), b.end("e2")],
        [b.flow("start", "answer"), b.flow("answer", "end"), b.flow("nudge", "reminder"), b.flow("reminder", "e2")],
    )
    deploy(ctx, ("remind.bpmn", xml))
    started = instances.start_instance(ctx, process_key="remind", actor=SYSTEM)
    for hour in range(1, 5):
        clock.advance(timedelta(hours=1))
        fire_due_timers(ctx)
        names = sorted(t.task_name for t in open_tasks(ctx, started.id))
        assert names == ["answer"] + ["reminder"] * min(hour, 3)
