"""Benchmarks: ``make bench`` (or ``python -m bench``).

Prints one line per benchmark: ``bench <name> <value> <unit> baseline=<value> ratio=<value>``;
every baseline is measured in the same run on the same machine.

- lifecycle_sqlite / lifecycle_postgres: start → user task → claim → complete → end through
  the engine services (one transaction each), against raw in-memory SpiffWorkflow running the
  same BPMN (parse once, no persistence) as the baseline.
- statements_per_lifecycle_sqlite / _postgres: SQL statements one lifecycle issues (start, the inbox lookup of the
  task, claim, complete); baseline: those four calls, so the ratio is statements per call.
- lifecycle_complaint_sqlite / _postgres and statements_per_complaint_*: a complaint filed, investigated,
  approved and answered on the real complaint_handling process (bench/complaint.py), against the same raw baseline.
- state_bytes: stored bytes per finished instance (state column) against SpiffWorkflow's own
  serialize_json of the same finished workflow (which embeds the spec).
- timer_* (bench/timers.py), holiday_wave_* (bench/care_wave.py), http_* (bench/http.py) and inbox_*
  (bench/inbox.py), reports_* (bench/reports.py), search_* (bench/search.py), scale (bench/scale.py:
  http_lifecycle_pg_c4_nodes1/2, metrics_scrape_ms): see those modules.

``python -m bench [lifecycle] [timers] [wave] [http] [inbox] [reports] [search] [scale]`` runs only the named groups
(default: all).
"""

from __future__ import annotations

import atexit
import os
import socket
import sys
import tempfile
import time
import uuid
from urllib.parse import urlparse

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from bench import complaint
from bench.processes import one_task_bpmn
from engine.bpmn.loader import SourceFile
from engine.config import DatabaseSettings, PrivacySettings, Settings
from engine.context import build_engine
from engine.db import migrate
from engine.db.models import ProcessInstance
from engine.privacy import new_data_key
from engine.services import definitions, identity, instances, tasks
from engine.views import Actor

SECONDS = float(os.environ.get("CAREFLOW_BENCH_SECONDS", "4"))
BPMN = one_task_bpmn("bench")


def rate(fn, seconds: float = SECONDS) -> float:
    fn()  # warm-up
    count, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - begin)


def raw_lifecycle() -> tuple[callable, callable]:
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(BPMN)
    spec, subs = parser.get_spec("bench"), parser.get_subprocess_specs("bench")

    def run() -> BpmnWorkflow:
        wf = BpmnWorkflow(spec, subs)
        wf.do_engine_steps()
        [task] = wf.get_tasks(state=TaskState.READY, manual=True)
        task.data.update(ok=True)
        task.run()
        wf.do_engine_steps()
        assert wf.is_completed()
        return wf

    return run, run


def engine_lifecycle(url: str):
    ctx = build_engine(Settings(database=DatabaseSettings(url=url), privacy=PrivacySettings(data_key=new_data_key())))
    migrate.upgrade(ctx.db)
    designer = Actor("bench", frozenset({"designer"}))
    definitions.deploy_definition(ctx, files=[SourceFile("bench.bpmn", BPMN)], actor=designer)
    name = f"clerk{uuid.uuid4().hex[:6]}"
    identity.create_user(ctx, username=name, roles=["staff"], groups=["team"])
    clerk = identity.get_actor(ctx, name)

    def run() -> None:
        started = instances.start_instance(ctx, process_key="bench", actor=clerk)
        with ctx.sessions() as session:  # the id of the open task, as an inbox would list it
            from engine.db.models import HumanTask

            task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == uuid.UUID(started.id)))
        tasks.claim_task(ctx, task_id, actor=clerk)
        done = tasks.complete_task(ctx, task_id, actor=clerk, data={"ok": True})
        assert done.status == "completed"

    return ctx, run


def statements(ctx, run) -> int:
    """How many SQL statements one call of ``run`` issues."""
    from sqlalchemy import event

    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(ctx.db, "before_cursor_execute", listener)
    try:
        run()
    finally:
        event.remove(ctx.db, "before_cursor_execute", listener)
    return len(seen)


def line(name: str, value: float, unit: str, baseline: float) -> None:
    ratio = value / baseline if baseline else float("nan")
    print(f"bench {name} {value:.1f} {unit} baseline={baseline:.1f} ratio={ratio:.3f}", flush=True)


def postgres_url() -> str | None:
    url = os.environ.get("CAREFLOW_BENCH_POSTGRES_URL") or os.environ.get("CAREFLOW_TEST_POSTGRES_URL") \
        or "postgresql://postgres@127.0.0.1:5432/test"
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 5432), timeout=2).close()
    except OSError:
        return None
    return url


def fresh_postgres(url: str) -> str:
    from engine.config import normalize_database_url

    admin = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    name = f"careflow_bench_{os.getpid()}"  # one per run: two runs at once must not drop each other's database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    atexit.register(drop)
    return admin.url.set(database=name).render_as_string(hide_password=False)


def lifecycle() -> None:
    raw, finished = raw_lifecycle()
    baseline = rate(raw)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, run = engine_lifecycle(f"sqlite:///{tmp}/bench.db")
        line("lifecycle_sqlite", rate(run), "lifecycles/s", baseline)
        line("statements_per_lifecycle_sqlite", statements(ctx, run), "statements", 4)
        with Session(ctx.db) as session:
            stored = session.scalar(select(func.avg(func.length(ProcessInstance.state))))
        spiff_bytes = len(BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
                          .serialize_json(finished()))
        line("state_bytes_per_finished_instance", float(stored or 0), "bytes", float(spiff_bytes))
        ctx.db.dispose()
        ctx, run = complaint.engine_lifecycle(f"sqlite:///{tmp}/complaint.db")
        line("lifecycle_complaint_sqlite", rate(run), "complaints/s", baseline)
        line("statements_per_complaint_sqlite", statements(ctx, run), "statements", 5)
        ctx.db.dispose()
    pg = postgres_url()
    if pg is None:
        print("bench lifecycle_postgres skipped: PostgreSQL unreachable", flush=True)
        return
    ctx, run = engine_lifecycle(fresh_postgres(pg))
    line("lifecycle_postgres", rate(run), "lifecycles/s", rate(raw))
    line("statements_per_lifecycle_postgres", statements(ctx, run), "statements", 4)
    ctx.db.dispose()
    ctx, run = complaint.engine_lifecycle(fresh_postgres(pg))
    line("lifecycle_complaint_postgres", rate(run), "complaints/s", rate(raw))
    line("statements_per_complaint_postgres", statements(ctx, run), "statements", 5)
    ctx.db.dispose()


GROUPS = ("lifecycle", "timers", "wave", "http", "inbox", "reports", "search", "scale")


def main(groups: list[str]) -> None:
    """Run the named groups (default: all): ``python -m bench [lifecycle] [timers] [wave] [http] [inbox]``."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise SystemExit(f"unknown benchmark group(s) {', '.join(sorted(unknown))}; choose from {', '.join(GROUPS)}")
    for group in groups or GROUPS:
        if group == "lifecycle":
            lifecycle()
        elif group == "timers":
            from bench import timers

            timers.run(line)
        elif group == "wave":
            from bench import care_wave

            care_wave.run(line, postgres_url)
        elif group == "http":
            from bench import http

            http.run(line, engine_lifecycle, rate, raw=raw_lifecycle)
        elif group == "inbox":
            from bench import inbox

            inbox.run(line, postgres_url)
        elif group == "reports":
            from bench import reports

            reports.run(line, postgres_url)
        elif group == "search":
            from bench import search

            search.run(line, postgres_url)
        elif group == "scale":
            from bench import scale

            scale.run(line, postgres_url)


if __name__ == "__main__":
    main(sys.argv[1:])
