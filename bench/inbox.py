"""Inbox first-page latency with many open tasks: ``tasks.list_tasks(view="queue")`` and ``GET /api/v1/tasks?view=queue``.

Open tasks are bulk-inserted with Core ``insert()`` executemany (a ``human_task`` and a ``task_candidate`` row
each, and one ``process_instance`` row per TASKS_PER_INSTANCE tasks for the foreign key: the queue query never
reads instances, and fewer rows fit more tasks into PostgreSQL's set-up time), not started through the engine.
The candidate groups are ``team00``..``team19`` round-robin (plus a user candidate on every 50th task); the 20
newest tasks belong to the group ``rare`` only.

- inbox_queue_p95_<db>: p95 of the engine call for a clerk in ``team07`` (5% of the tasks, spread evenly).
- inbox_queue_http_p95_<db>: the same page over HTTP through Flask's test client (token check, JSON).
- inbox_queue_sparse_p95_<db>: the engine call for a clerk in ``rare``: 20 matching tasks, all newest, so a
  plan that walks the open tasks in created_at order has to pass every other open task first.
- inbox_queue_by_due_p95_<db> / inbox_queue_sparse_by_due_p95_<db> / inbox_queue_by_priority_p95_<db>: the
  typical (or ``rare``) clerk's first page sorted by due time or priority: the candidate index keeps creation
  order only, so the database walks the open tasks in that order checking candidates, or collects the clerk's
  candidates and sorts them, as its statistics favour.
- inbox_queue_count_p95_<db>: the typical clerk's queue count (``count_tasks``, capped at 1000) as the inbox
  tabs show it.

Baseline: the same query on the same database when it held 100 tasks (measured before the bulk insert).
Scale: CAREFLOW_BENCH_INBOX (default 100,000) on SQLite; on PostgreSQL CAREFLOW_BENCH_INBOX_PG (default
1,000,000) or as many as CAREFLOW_BENCH_INBOX_PG_SETUP seconds (default 120) of inserting allow; the unit
says how many. PostgreSQL gets VACUUM ANALYZE after the insert (the steady state autovacuum reaches: statistics
and a visibility map); SQLite gets nothing (no ANALYZE, as a fresh deployment). The plan of each measured query
(EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) is printed to stderr. Target: p95 < 30 ms.
Each p95 is over up to 300 calls or 6 s, at least 5 calls.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, text

from bench.common import Line, note, percentile, scratch_engine
from bench.http import BPMN, FORM, PROCESS
from engine.bpmn.loader import SourceFile
from engine.config import DatabaseSettings, PrivacySettings, Settings
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.db.models import HumanTask, ProcessInstance, TaskCandidate
from engine.privacy import new_data_key
from engine.services import definitions, identity, tasks
from engine.views import Actor

SQLITE_N = int(os.environ.get("CAREFLOW_BENCH_INBOX", "100000"))
POSTGRES_N = int(os.environ.get("CAREFLOW_BENCH_INBOX_PG", "1000000"))
POSTGRES_SETUP_SECONDS = float(os.environ.get("CAREFLOW_BENCH_INBOX_PG_SETUP", "120"))
SMALL = 100
SPARSE = 20
GROUPS = 20
BATCH = 10_000
TASKS_PER_INSTANCE = 10
REPEAT, REPEAT_SECONDS = 300, 6.0
BASE = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


def group_of(i: int) -> str:
    return "rare" if i < SPARSE else f"team{i % GROUPS:02d}"


def rows(definition_id: int, first: int, last: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """process_instance, human_task and task_candidate rows for tasks first..last-1."""
    instances, human, candidates = [], [], []
    for i in range(first, last):
        # The rare group's tasks are the newest, however many others get inserted after them.
        created = BASE + timedelta(seconds=i) + (timedelta(days=3650) if i < SPARSE else timedelta(0))
        task_id, group = uuid.uuid4(), group_of(i)
        user = f"user{i % 500:03d}" if i % 50 == 0 else ""
        customer = f"C{i:09d}"
        if not instances or (i - first) % TASKS_PER_INSTANCE == 0:
            instance_id = uuid.uuid4()
            instances.append({"id": instance_id, "definition_id": definition_id, "process_key": PROCESS,
                              "business_key": None, "customer_id": customer, "status": "running", "state": "{}",
                              "state_version": 1, "revision": 1, "started_by": "bench", "started_at": created,
                              "updated_at": created, "ended_at": None})
        human.append({"id": task_id, "instance_id": instance_id, "process_key": PROCESS, "customer_id": customer,
                      "task_name": "review", "title": f"Review {customer}", "form_key": "bench_answer", "lane": None,
                      "status": "open", "assignee": None, "priority": 50, "due_at": created + timedelta(days=2),
                      "created_at": created, "candidate_groups": group, "candidate_users": user})
        candidates.append({"task_id": task_id, "kind": "group", "name": group, "status": "open", "created_at": created})
        if user:
            candidates.append({"task_id": task_id, "kind": "user", "name": user, "status": "open", "created_at": created})
    return instances, human, candidates


def populate(ctx: EngineContext, definition_id: int, first: int, last: int, budget: float | None = None) -> int:
    """Insert tasks first..last-1 in batches (each batch one transaction); stop early past ``budget`` seconds.

    Returns the index after the last task inserted.
    """
    begin = time.perf_counter()
    at = first
    while at < last:
        if budget is not None and time.perf_counter() - begin > budget:
            break
        stop = min(last, at + BATCH)
        instance_rows, task_rows, candidate_rows = rows(definition_id, at, stop)
        with ctx.db.begin() as conn:
            conn.execute(insert(ProcessInstance.__table__), instance_rows)
            conn.execute(insert(HumanTask.__table__), task_rows)
            conn.execute(insert(TaskCandidate.__table__), candidate_rows)
        at = stop
        if (at - first) % 100_000 == 0:
            note(f"inbox: {at} tasks inserted ({(at - first) / (time.perf_counter() - begin):.0f} tasks/s)")
    return at


@contextmanager
def captured(ctx: EngineContext) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with parameters) run on ctx.db inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(ctx.db, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(ctx.db, "before_cursor_execute", record)


def explain(ctx: EngineContext, actor: Actor) -> str:
    """The plan of the queue query that list_tasks actually sends (EXPLAIN ANALYZE on PostgreSQL)."""
    with captured(ctx) as seen:
        tasks.list_tasks(ctx, actor=actor, view="queue")
    [(statement, parameters)] = [(s, p) for s, p in seen if "FROM human_task" in s and "ORDER BY" in s]
    prefix = "EXPLAIN QUERY PLAN " if ctx.settings.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    with ctx.db.connect() as conn:
        plan = conn.exec_driver_sql(prefix + statement, parameters).all()
    body = "\n".join(" | ".join(str(v) for v in row) for row in plan)
    return f"{' '.join(statement.split())}\n{body}"


def timed(fn: Callable[[], Any]) -> list[float]:
    fn()  # warm-up
    samples: list[float] = []
    begin = time.perf_counter()
    while len(samples) < REPEAT and (len(samples) < 5 or time.perf_counter() - begin < REPEAT_SECONDS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def measure(ctx: EngineContext, users: dict[str, Actor], client: Any, headers: dict[str, str],
            expect: dict[str, int]) -> dict[str, float]:
    """p95 in ms of: the engine call (typical clerk), the HTTP call (typical clerk), the engine call (rare group)."""

    def engine_page(actor: Actor, count: int, sort: str = "created") -> Callable[[], None]:
        def call() -> None:
            page = tasks.list_tasks(ctx, actor=actor, view="queue", sort=sort)
            if len(page.items) != count:
                raise RuntimeError(f"{actor.username}'s first page holds {len(page.items)} tasks, expected {count}")
        return call

    def http_page() -> None:
        response = client.get("/api/v1/tasks?view=queue", headers=headers)
        if response.status_code != 200 or len(response.json["items"]) != expect["typical"]:
            raise RuntimeError(f"GET /api/v1/tasks?view=queue → {response.status_code}: {response.get_data(as_text=True)[:300]}")

    def count() -> None:
        tasks.count_tasks(ctx, actor=users["typical"], view="queue")

    return {
        "queue": percentile(timed(engine_page(users["typical"], expect["typical"])), 95),
        "queue_http": percentile(timed(http_page), 95),
        "queue_sparse": percentile(timed(engine_page(users["sparse"], expect["sparse"])), 95),
        "queue_by_due": percentile(timed(engine_page(users["typical"], expect["typical"], "due")), 95),
        "queue_sparse_by_due": percentile(timed(engine_page(users["sparse"], expect["sparse"], "due")), 95),
        "queue_by_priority": percentile(timed(engine_page(users["typical"], expect["typical"], "priority")), 95),
        "queue_count": percentile(timed(count), 95),
    }


def expected(n: int) -> dict[str, int]:
    typical = sum(1 for i in range(SPARSE, n) if group_of(i) == "team07")
    return {"typical": min(50, typical), "sparse": min(50, SPARSE, n)}


def bench(ctx: EngineContext, n: int, budget: float | None) -> tuple[int, dict[str, float], dict[str, float]]:
    """Set up, measure at 100 tasks, grow to ``n`` (or what the budget allows), measure again."""
    from web import create_app

    migrate.upgrade(ctx.db)
    files = [SourceFile(f"{PROCESS}.bpmn", BPMN), SourceFile("bench_answer.json", json.dumps(FORM).encode())]
    deployed = definitions.deploy_definition(ctx, files=files, actor=Actor("bench", frozenset({"designer"})))
    assert deployed is not None
    with ctx.sessions() as session:
        definition_id = session.scalar(text("SELECT id FROM process_definition WHERE key = :k"), {"k": PROCESS})
    identity.create_user(ctx, username="typical", roles=["staff"], groups=["team07"])
    identity.create_user(ctx, username="sparse", roles=["staff"], groups=["rare"])
    users = {name: identity.get_actor(ctx, name) for name in ("typical", "sparse")}
    client = create_app({"SECRET_KEY": "bench"}, engine=ctx).test_client()
    headers = {"Authorization": f"Bearer {identity.create_token(ctx, username='typical')}"}

    populate(ctx, definition_id, 0, SMALL)
    analyze(ctx)
    small = measure(ctx, users, client, headers, expected(SMALL))
    begin = time.perf_counter()
    reached = populate(ctx, definition_id, SMALL, n, budget)
    inserted = time.perf_counter() - begin
    analyze(ctx)
    note(f"inbox: {reached - SMALL} tasks (+ their instances and candidates) inserted in {inserted:.1f} s, "
         f"{(reached - SMALL) / inserted:.0f} tasks/s, then {time.perf_counter() - begin - inserted:.1f} s of VACUUM ANALYZE "
         f"(PostgreSQL only); {reached} open tasks in all")
    large = measure(ctx, users, client, headers, expected(reached))
    for name in ("typical", "sparse"):
        note(f"inbox plan for {name} at {reached} tasks:\n{explain(ctx, users[name])}")
    return reached, large, small


def analyze(ctx: EngineContext) -> None:
    if not ctx.settings.is_sqlite:
        with ctx.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE process_instance, human_task, task_candidate"))


def report(line: Line, db: str, reached: int, large: dict[str, float], small: dict[str, float]) -> None:
    unit = f"ms(p95,open_tasks={reached},baseline_tasks={SMALL})"
    for key in ("queue", "queue_http", "queue_sparse", "queue_by_due", "queue_sparse_by_due", "queue_by_priority",
                "queue_count"):
        line(f"inbox_{key}_p95_{db}", large[key], unit, small[key])


def run(line: Line, postgres_url: Callable[[], str | None]) -> None:
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = build_engine(Settings(database=DatabaseSettings(url=f"sqlite:///{tmp}/inbox.db"),
                                    privacy=PrivacySettings(data_key=new_data_key())))
        try:
            reached, large, small = bench(ctx, SQLITE_N, None)
        finally:
            ctx.db.dispose()
    report(line, "sqlite", reached, large, small)
    note(f"inbox: sqlite part took {time.perf_counter() - began:.1f} s")
    url = postgres_url()
    if url is None:
        print("bench inbox_queue_p95_postgres skipped: PostgreSQL unreachable", flush=True)
        return
    began = time.perf_counter()
    with scratch_engine(url, "inbox") as ctx:
        reached, large, small = bench(ctx, POSTGRES_N, POSTGRES_SETUP_SECONDS)
    report(line, "postgres", reached, large, small)
    note(f"inbox: postgres part took {time.perf_counter() - began:.1f} s")
