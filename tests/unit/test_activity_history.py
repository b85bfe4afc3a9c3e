"""The workflow step records when each BPMN element of an instance was entered and left (``activity_history``), at
the injected clock's time, for every kind of element the designer's heatmap shows."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from engine.context import build_engine
from engine.db.history import ActivityHistory
from engine.db.models import ProcessInstance
from engine.db.session import unit_of_work
from engine.privacy import state_field
from engine.services import identity, instances, migration
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.conftest import START, _truncate
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

GROUP = {"candidateGroups": "service_team"}
Row = tuple[str, str, datetime | None, datetime | None, str | None, str | None]


def history(ctx, instance_id: str) -> list[Row]:
    """(element, type, started, ended, outcome, actor) per row, in the order the elements were entered."""
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(select(ActivityHistory).where(ActivityHistory.instance_id == uuid.UUID(instance_id))
                               ).all()
        found = [(r.element_id, r.element_type, r.started_at, r.ended_at, r.outcome, r.actor) for r in rows]
    return sorted(found, key=lambda r: (r[2] or r[3] or START, _ORDER.get(r[0], 99)))


_ORDER = {name: n for n, name in enumerate(
    ["start", "review", "lookup", "route", "wait", "close", "skip", "end", "fork", "a", "b", "join", "each"])}


def _lifecycle_process() -> bytes:
    """A user task, a service task, a gateway and a timer: start → review → lookup → route → wait (2 h) → close → end,
    with the gateway's other branch straight to the end."""
    return b.definitions("life", [
        b.start(), b.user_task("review", **GROUP), b.service_task("lookup", "core.lookup", result="customer", cid="'C1'"),
        b.gateway("route", default="flow_route_wait"), b.timer_catch("wait", "duration", '"PT2H"'),
        b.user_task("close", **GROUP), b.end(), b.end("skip")],
        [b.flow("start", "review"), b.flow("review", "lookup"), b.flow("lookup", "route"), b.flow("route", "wait"),
         b.flow("route", "skip", "customer == 'nobody'"), b.flow("wait", "close"), b.flow("close", "end")])


def test_a_lifecycle_records_every_element_with_the_clocks_times(ctx, people, clock):
    ctx.register_handler("core.lookup", lambda params, call: {"id": params["cid"]})
    deploy(ctx, ("life.bpmn", _lifecycle_process()))
    t0 = clock.now()
    started = instances.start_instance(ctx, process_key="life", actor=SYSTEM)
    assert history(ctx, started.id) == [("start", "startEvent", t0, t0, "completed", None),
                                        ("review", "userTask", t0, None, None, None)]

    clock.advance(timedelta(minutes=10))
    t1 = clock.now()
    [review] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, review.id, people["alice"])
    assert history(ctx, started.id)[1:] == [
        ("review", "userTask", t0, t1, "completed", "alice"),
        ("lookup", "serviceTask", t1, t1, "completed", None),
        ("route", "exclusiveGateway", t1, t1, "completed", None),
        ("wait", "intermediateCatchEvent", t1, None, None, None),
    ]

    clock.advance(timedelta(hours=2))
    t2 = clock.now()
    assert fire_due_timers(ctx).fired == 1
    assert history(ctx, started.id)[4:] == [("wait", "intermediateCatchEvent", t1, t2, "completed", None),
                                            ("close", "userTask", t2, None, None, None)]

    clock.advance(timedelta(minutes=45))
    t3 = clock.now()
    [close] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, close.id, people["bob"])
    rows = history(ctx, started.id)
    assert rows[5:] == [("close", "userTask", t2, t3, "completed", "bob"), ("end", "endEvent", t3, t3, "completed", None)]
    durations = {element: (ended - began).total_seconds() for element, _, began, ended, *_ in rows}
    assert durations == {"start": 0, "review": 600, "lookup": 0, "route": 0, "wait": 7200, "close": 2700, "end": 0}
    assert "skip" not in durations  # the branch not taken was never entered


def test_a_cancelled_instance_closes_its_open_rows_as_cancelled(ctx, people, clock):
    deploy(ctx, ("p.bpmn", b.definitions("p", [
        b.start(), '<bpmn:parallelGateway id="fork"/>', b.user_task("a", **GROUP),
        b.timer_catch("wait", "duration", '"P3D"'), b.end()],
        [b.flow("start", "fork"), b.flow("fork", "a"), b.flow("fork", "wait"), b.flow("a", "end"),
         b.flow("wait", "end", id="wait_end")])))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    clock.advance(timedelta(hours=5))
    instances.cancel_instance(ctx, started.id, actor=people["sam"], reason="duplicate")
    ended = START + timedelta(hours=5)
    assert {(r[0], r[3], r[4]) for r in history(ctx, started.id)} == {
        ("start", START, "completed"), ("fork", START, "completed"), ("a", ended, "cancelled"),
        ("wait", ended, "cancelled")}


def test_an_instance_cancelled_without_its_state_closes_its_open_rows(ctx, people, clock):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", **GROUP))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    with unit_of_work(ctx.sessions) as session:
        session.execute(update(ProcessInstance).where(ProcessInstance.id == uuid.UUID(started.id))
                        .values(state=ctx.cipher.seal('{"careflow_state": 1, "workflow": {"broken": true}}',
                                                     state_field(started.id))))
    clock.advance(timedelta(minutes=3))
    instances.cancel_instance(ctx, started.id, actor=people["sam"], reason="state lost")
    assert history(ctx, started.id)[-1] == ("review", "userTask", START, START + timedelta(minutes=3), "cancelled",
                                            None)


def test_a_failed_script_closes_as_error_and_a_retry_reopens_its_row(ctx, people, clock):
    deploy(ctx, ("p.bpmn", b.linear("p", b.script_task("divide", "share = total / parts"), b.user_task("check", **GROUP))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM, variables={"total": 10, "parts": 0})
    assert history(ctx, started.id)[-1] == ("divide", "scriptTask", START, START, "error", None)
    clock.advance(timedelta(minutes=20))
    instances.retry_instance(ctx, started.id, actor=people["sam"], data={"parts": 2})
    later = START + timedelta(minutes=20)
    assert history(ctx, started.id)[1:] == [("divide", "scriptTask", START, later, "completed", None),
                                            ("check", "userTask", later, None, None, None)]


def test_joins_multi_instances_and_boundary_events_count_once_per_pass(ctx, people, clock):
    each = ('<bpmn:userTask id="each"><bpmn:extensionElements><spiffworkflow:properties>'
            '<spiffworkflow:property name="candidateGroups" value="service_team"/></spiffworkflow:properties>'
            '</bpmn:extensionElements><bpmn:multiInstanceLoopCharacteristics isSequential="false">'
            '<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>')
    deploy(ctx, ("p.bpmn", b.definitions("p", [
        b.start(), '<bpmn:parallelGateway id="fork"/>', b.user_task("a", **GROUP), b.user_task("b", **GROUP),
        b.timer_boundary("late", "a", "duration", '"PT1H"', cancel=False), '<bpmn:parallelGateway id="join"/>',
        each, b.end(), b.end("late_end")],
        [b.flow("start", "fork"), b.flow("fork", "a"), b.flow("fork", "b"), b.flow("a", "join"),
         b.flow("b", "join"), b.flow("join", "each"), b.flow("each", "end"), b.flow("late", "late_end")])))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    clock.advance(timedelta(hours=2))
    assert fire_due_timers(ctx).fired == 1  # the boundary timer fires once
    for task in sorted(open_tasks(ctx, started.id), key=lambda t: t.task_name):
        clock.advance(timedelta(minutes=1))
        claim_and_complete(ctx, task.id, people["alice"])
    for task in open_tasks(ctx, started.id):
        claim_and_complete(ctx, task.id, people["bob"])
    rows = history(ctx, started.id)
    counted: dict[str, int] = {}
    for element, *_ in rows:
        counted[element] = counted.get(element, 0) + 1
    assert counted == {"start": 1, "fork": 1, "a": 1, "b": 1, "late": 1, "late_end": 1, "join": 1, "each": 2,
                       "end": 1}
    assert [r[1:5] for r in rows if r[0] == "late"] == [("boundaryEvent", START + timedelta(hours=2),
                                                         START + timedelta(hours=2), "completed")]
    assert all(r[4] == "completed" for r in rows)


@pytest.fixture
def unchecked(settings, db, clock):
    """Migration with maker-checker off (its approval path is tests/security/test_maker_checker.py)."""
    yield build_engine(replace(settings, security=replace(settings.security, four_eyes_changes=False)), clock=clock,
                       db=db)
    _truncate(db)


def test_a_migrated_instance_keeps_its_rows_and_records_on_the_new_version(unchecked, clock):
    ctx = unchecked
    people = {name: _person(ctx, name, role) for name, role in (("dora", "designer"), ("alice", "staff"))}
    first = deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", **GROUP))))
    started = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    second = deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", **GROUP), b.user_task("check", **GROUP))))
    migration.migrate_instances(ctx, process_key="req", actor=people["dora"], to_version=2)
    clock.advance(timedelta(minutes=5))
    [write] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, write.id, people["alice"])
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = {r.element_id: (r.definition_id, r.started_at, r.ended_at) for r in session.scalars(
            select(ActivityHistory).where(ActivityHistory.instance_id == uuid.UUID(started.id)))}
    version_of = {first.version: _definition_id(ctx, "req", 1), second.version: _definition_id(ctx, "req", 2)}
    later = START + timedelta(minutes=5)
    assert rows == {"start": (version_of[1], START, START), "write": (version_of[1], START, later),
                    "check": (version_of[2], later, None)}


def _person(ctx, name: str, role: str):
    identity.create_user(ctx, username=name, roles=[role], groups=["service_team"], password="correct horse 1")
    return identity.get_actor(ctx, name)


def _definition_id(ctx, key: str, version: int) -> int:
    from engine.db.models import ProcessDefinition

    with unit_of_work(ctx.sessions, write=False) as session:
        return int(session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key,
                                                                     ProcessDefinition.version == version)))


def test_history_costs_one_statement_per_moving_command_and_none_for_a_claim(ctx, people):
    from engine.services import tasks
    from tests.unit.test_statement_counts import counting

    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    with counting(ctx) as seen:
        started = instances.start_instance(ctx, process_key="simple", actor=SYSTEM)
    assert sum("activity_history" in s for s in seen) == 1
    [task] = open_tasks(ctx, started.id)
    with counting(ctx) as seen:
        tasks.claim_task(ctx, task.id, actor=people["alice"])
    assert sum("activity_history" in s for s in seen) == 0
    with counting(ctx) as seen:
        tasks.complete_task(ctx, task.id, actor=people["alice"], data={})
    assert [s.split("(")[0].strip() for s in seen if "activity_history" in s] == ["INSERT INTO activity_history"]


def _run_days(ctx, people, clock, days: int) -> None:
    """Instance ``i`` starts on day ``i`` at 09:00 Shanghai; its review takes ``i + 1`` minutes, its timer 2 h; it
    then waits in ``close``."""
    for day in range(days):
        clock.set(START + timedelta(days=day))
        started = instances.start_instance(ctx, process_key="life", actor=SYSTEM)
        clock.advance(timedelta(minutes=day + 1))
        [review] = open_tasks(ctx, started.id)
        claim_and_complete(ctx, review.id, people["alice"])
        clock.advance(timedelta(hours=2))
        assert fire_due_timers(ctx).fired == 1


def test_the_heatmap_counts_every_element_kind_with_mean_and_p90_by_version_and_period(ctx, people, clock):
    from datetime import date

    from engine.services import designer

    ctx.register_handler("core.lookup", lambda params, call: {"id": params["cid"]})
    deploy(ctx, ("life.bpmn", _lifecycle_process()))
    _run_days(ctx, people, clock, 10)
    stats = designer.heatmap(ctx, "life", None, actor=people["sam"])
    got = {s.element_id: (s.kind, s.count, s.open, s.completed, s.avg_seconds, s.p90_seconds) for s in stats}
    assert got == {
        "start": ("startEvent", 10, 0, 10, 0.0, 0.0),
        "review": ("userTask", 10, 0, 10, 330.0, 540.0),  # 1…10 min: mean 5.5 min, 90th percentile the 9th
        "lookup": ("serviceTask", 10, 0, 10, 0.0, 0.0),
        "route": ("exclusiveGateway", 10, 0, 10, 0.0, 0.0),
        "wait": ("intermediateCatchEvent", 10, 0, 10, 7200.0, 7200.0),
        "close": ("userTask", 10, 10, 0, None, None),
        "end": ("endEvent", 0, 0, 0, None, None),  # never reached: listed with zeros, after the others
        "skip": ("endEvent", 0, 0, 0, None, None),
    }
    assert [s.element_id for s in stats] == ["start", "review", "lookup", "route", "wait", "close", "end", "skip"]

    # Days in Shanghai, both included: 3 to 7 March are the instances of days 0…4 (reviews of 1…5 min).
    first_days = designer.Period(date(2025, 3, 3), date(2025, 3, 7))
    review = next(s for s in designer.heatmap(ctx, "life", None, actor=people["sam"], period=first_days)
                  if s.element_id == "review")
    assert (review.count, review.avg_seconds, review.p90_seconds) == (5, 180.0, 300.0)
    late = designer.Period(date(2025, 3, 12), None)  # day 9 only
    assert [(s.element_id, s.count) for s in designer.heatmap(ctx, "life", None, actor=people["sam"], period=late)
            if s.count] == [("start", 1), ("review", 1), ("lookup", 1), ("route", 1), ("wait", 1), ("close", 1)]

    # A new version has no history of its own; all versions together still do.
    deploy(ctx, ("life.bpmn", _lifecycle_process().replace(b'name="life"', b'name="life v2"')))
    assert sum(s.count for s in designer.heatmap(ctx, "life", 2, actor=people["sam"])) == 0
    assert next(s for s in designer.heatmap(ctx, "life", 2, actor=people["sam"], all_versions=True)
                if s.element_id == "review").count == 10


def test_the_instance_path_lists_the_steps_taken_with_their_durations(ctx, people, clock):
    from engine.services import designer

    deploy(ctx, ("req.bpmn", b.linear("req", b.script_task("prepare", "x = 1"), b.user_task("write", **GROUP),
                                      b.user_task("check", **GROUP))))
    view = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    clock.advance(timedelta(minutes=9))
    [task] = open_tasks(ctx, view.id)
    claim_and_complete(ctx, task.id, people["alice"])
    path = designer.instance_path(ctx, view.id, actor=people["dora"])
    later = START + timedelta(minutes=9)
    steps = [(s.element_id, s.kind, s.started_at, s.ended_at, s.outcome, s.seconds) for s in path.steps]
    assert sorted(steps[:2]) == [("prepare", "scriptTask", START, START, "completed", 0.0),  # the same instant
                                 ("start", "startEvent", START, START, "completed", 0.0)]
    assert steps[2:] == [("write", "userTask", START, later, "completed", 540.0),
                         ("check", "userTask", later, None, None, None)]
