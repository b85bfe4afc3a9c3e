"""Timer benchmarks (SQLite): firing lateness under load, and sweep/probe cost that must not grow with pending timers.

- timer_lateness_p50 / timer_lateness_p99: N timers pending far in the future (default 100,000) plus K
  timers (default 200) due over the next ~20 s, spread evenly. A real ``BackgroundScheduler`` runs
  ``SchedulerRunner(..., care_scans=False)`` on the real clock; this thread polls the database every 50 ms
  and takes the first poll that sees an instance completed. Lateness = start of that poll − the timer's
  due time, so it includes up to one poll interval (unit ``ms(poll50ms,...)``). Baseline: the same run
  with only the K timers. ``timer_lateness_sweep_p99`` is the engine's own view (``ended_at``, which the
  sweep sets to the moment it started) minus the due time: the scheduler's wake-up delay alone.
- timer_sweep_flat / timer_next_due_probe: median of 50 ``fire_due_timers`` / ``next_timer_due`` calls that
  find nothing due, with N pending timers (value) against 10 (baseline); a ratio near 1 means flat.

Scale: CAREFLOW_BENCH_TIMERS (N), CAREFLOW_BENCH_TIMER_PROBES (K), CAREFLOW_BENCH_TIMER_SPREAD (seconds).
The N far timers are made quickly: 500 instances are started through ``start_instances`` (distinct due
times days ahead) and their ``process_instance`` and ``timer`` rows are then copied with new ids and
business keys, so the tables and indexes hold N genuine-looking rows (copies have no audit rows; none of
them ever fires during the run). CAREFLOW_BENCH_TIMER_FILL=engine starts all N through the engine instead
(~650 starts/s here, so ~2.5 min for 100,000).
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, insert, select

from bench.common import Line, note
from engine.bpmn.loader import SourceFile
from engine.clock import SystemClock
from engine.config import DatabaseSettings, PrivacySettings, Settings
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.db.models import InstanceStatus, ProcessInstance, Timer, TimerStatus
from engine.privacy import new_data_key
from engine.scheduler import SchedulerRunner, next_timer_due
from engine.services import definitions
from engine.services.instances import StartRequest, start_instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM, Actor

N = int(os.environ.get("CAREFLOW_BENCH_TIMERS", "100000"))
K = int(os.environ.get("CAREFLOW_BENCH_TIMER_PROBES", "200"))
SPREAD = float(os.environ.get("CAREFLOW_BENCH_TIMER_SPREAD", "20"))
FILL = os.environ.get("CAREFLOW_BENCH_TIMER_FILL", "copy")
LEAD = 3.0  # seconds between starting the K instances and the first one being due
POLL = 0.05
CALLS = 50
BATCH = 500
TEMPLATES = 500
SMALL = 10

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
<bpmn:process id="tick" isExecutable="true">
<bpmn:startEvent id="start"/>
<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDate>due</bpmn:timeDate>
</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:endEvent id="end"/>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
<bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
</bpmn:process></bpmn:definitions>"""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def new_context(path: str) -> EngineContext:
    ctx = build_engine(Settings(database=DatabaseSettings(url=f"sqlite:///{path}"),
                                privacy=PrivacySettings(data_key=new_data_key())))
    migrate.upgrade(ctx.db)
    definitions.deploy_definition(ctx, files=[SourceFile("tick.bpmn", BPMN)], actor=Actor("bench", frozenset({"designer"})))
    return ctx


def start_far(ctx: EngineContext, count: int, prefix: str) -> None:
    """Start ``count`` instances whose timers are due 2-30 days from now, ``BATCH`` per transaction."""
    now = ctx.clock.now()
    for first in range(0, count, BATCH):
        requests = [StartRequest(f"{prefix}:{i}", None, {"due": (now + timedelta(days=2, seconds=i * 2419)).isoformat()})
                    for i in range(first, min(count, first + BATCH))]
        result = start_instances(ctx, process_key="tick", requests=requests, actor=SYSTEM)
        assert len(result.started) == len(requests), result.skipped


def fill(ctx: EngineContext, count: int) -> None:
    """``count`` pending far-future timers: started through the engine, or templates copied (see module doc)."""
    if FILL == "engine" or count <= TEMPLATES:
        start_far(ctx, count, "far")
        return
    start_far(ctx, TEMPLATES, "far")
    instances, timers = ProcessInstance.__table__, Timer.__table__
    with ctx.db.connect() as conn:
        templates = [dict(row._mapping) for row in conn.execute(select(instances).where(instances.c.process_key == "tick"))]
        due = {row.instance_id: dict(row._mapping) for row in conn.execute(select(timers))}
    copies, chunk = count - TEMPLATES, 5000
    with ctx.db.begin() as conn:
        for first in range(0, copies, chunk):
            rows, timer_rows = [], []
            for i in range(first, min(copies, first + chunk)):
                template = templates[i % len(templates)]
                new_id = uuid.uuid4()
                rows.append({**template, "id": new_id, "business_key": f"far:copy:{i}"})
                timer = {**due[template["id"]], "instance_id": new_id}
                del timer["id"]
                timer_rows.append(timer)
            conn.execute(insert(instances), rows)
            conn.execute(insert(timers), timer_rows)


def pending_timers(ctx: EngineContext) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Timer).where(Timer.status == TimerStatus.PENDING.value)))


def lateness(ctx: EngineContext) -> tuple[list[float], list[float]]:
    """Fire K timers with a live scheduler; (lateness seen by polling, lateness of the sweep start), in ms."""
    clock = SystemClock()
    first_due = clock.now() + timedelta(seconds=LEAD)
    dues = [first_due + timedelta(seconds=SPREAD * i / K) for i in range(K)]
    result = start_instances(ctx, process_key="tick", actor=SYSTEM,
                             requests=[StartRequest(f"soon:{i}", None, {"due": d.isoformat()}) for i, d in enumerate(dues)])
    due_of = {uuid.UUID(i): d for i, d in zip(result.started, dues, strict=True)}
    runner = SchedulerRunner(ctx, BackgroundScheduler(timezone="UTC"), care_scans=False)
    runner.start()
    if clock.now() >= first_due:
        note(f"warning: scheduler started {(clock.now() - first_due).total_seconds():.2f} s after the first timer was due")
    seen: dict[uuid.UUID, float] = {}
    waiting = set(due_of)
    deadline = time.perf_counter() + LEAD + SPREAD + 60
    try:
        while waiting and time.perf_counter() < deadline:
            polled = clock.now()  # the commit happened before this poll's snapshot
            with ctx.sessions() as session:
                done = session.scalars(select(ProcessInstance.id).where(
                    ProcessInstance.id.in_(waiting), ProcessInstance.status == InstanceStatus.COMPLETED.value)).all()
            for instance_id in done:
                seen[instance_id] = (polled - due_of[instance_id]).total_seconds() * 1000
                waiting.discard(instance_id)
            time.sleep(POLL)
    finally:
        runner.stop()
        ctx.wakeup_listeners.clear()
    if waiting:
        raise RuntimeError(f"{len(waiting)} of {K} timers had not fired {SPREAD + 60:.0f} s after their due time")
    with ctx.sessions() as session:
        ended = dict(session.execute(select(ProcessInstance.id, ProcessInstance.ended_at)
                                     .where(ProcessInstance.id.in_(list(due_of)))).tuples().all())
    sweep = [(ended[i] - due_of[i]).total_seconds() * 1000 for i in due_of]
    return list(seen.values()), sweep


def probe_pair(small: EngineContext, large: EngineContext) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median ms of an empty timer sweep and of the next-due probe, ``CALLS`` each per context.

    The two databases are measured in alternating blocks of 5 calls, so that load from other
    processes on the machine hits both sides alike.
    """
    clock = SystemClock()

    def sweep(ctx: EngineContext) -> None:
        found = fire_due_timers(ctx, now=clock.now())
        assert found.fired == found.failed == 0, found

    def probe(ctx: EngineContext) -> None:
        next_timer_due(ctx, clock.now())

    results = []
    for fn in (sweep, probe):
        times: dict[int, list[float]] = {0: [], 1: []}
        for ctx in (small, large):
            fn(ctx)  # warm-up
        for _ in range(CALLS // 5):
            for side, ctx in enumerate((small, large)):
                for _ in range(5):
                    begin = time.perf_counter()
                    fn(ctx)
                    times[side].append((time.perf_counter() - begin) * 1000)
        results.append((statistics.median(times[0]), statistics.median(times[1])))
    return results[0], results[1]


def scenario(ctx: EngineContext, name: str, bulk: int) -> tuple[list[float], list[float]]:
    begin = time.perf_counter()
    fill(ctx, bulk)
    note(f"{name}: {pending_timers(ctx)} far timers pending after {time.perf_counter() - begin:.1f} s ({FILL})")
    begin = time.perf_counter()
    seen, sweep = lateness(ctx)
    note(f"{name}: {K} timers over {SPREAD:.0f} s fired; lateness run {time.perf_counter() - begin:.1f} s")
    return seen, sweep


def run(line: Line) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        small, large = new_context(os.path.join(tmp, "baseline.db")), new_context(os.path.join(tmp, "loaded.db"))
        try:
            base_seen, base_sweep = scenario(small, "baseline", SMALL)
            seen, sweep = scenario(large, "loaded", N)
            few, many = pending_timers(small), pending_timers(large)
            (base_empty, empty), (base_probe, probe) = probe_pair(small, large)
        finally:
            small.db.dispose()
            large.db.dispose()
    unit = f"ms(poll{POLL * 1000:.0f}ms,N={N},K={K})"
    line("timer_lateness_p50", percentile(seen, 50), unit, percentile(base_seen, 50))
    line("timer_lateness_p99", percentile(seen, 99), unit, percentile(base_seen, 99))
    line("timer_lateness_sweep_p99", percentile(sweep, 99), f"ms(sweep_start,N={N},K={K})", percentile(base_sweep, 99))
    line("timer_sweep_flat", empty, f"ms({many}_vs_{few}_pending)", base_empty)
    line("timer_next_due_probe", probe, f"ms({many}_vs_{few}_pending)", base_probe)
