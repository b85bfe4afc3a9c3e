"""Scale-out figures (issue: several nodes on PostgreSQL, metrics).

- http_lifecycle_pg_c4_nodes1 / http_lifecycle_pg_c4_nodes2: the HTTP lifecycle of bench/http.py (five API calls)
  on PostgreSQL with 4 client threads, through one ``careflow serve`` node, then through two (two clients on each;
  each node with serve's default workers), lifecycles/s. Baseline of both: the one-node figure. On this 2-core
  machine the two nodes share the cores with the database and the clients, so the second node can only show that
  nothing serialises them; the arithmetic for more cores is in the README.
- metrics_scrape_ms: one ``/metrics`` scrape (median of 15, through the app) on a PostgreSQL database holding
  1,000,000 process instances (95 % completed, 3 % running, 1 % cancelled, 1 % in error), 1,000,000 human tasks
  (30,000 of them open or claimed), 30,000 pending timers and 1,000,000 outbox messages (2,000 pending, 100 dead).
  Baseline: the 100 ms budget the operations issue sets, so ratio < 1 is within budget.

The rows are written with ``generate_series`` in the database (a minute, not hours of engine work): the scrape only
counts them, so their states need not be real workflow states.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from sqlalchemy import text

from bench.common import Line, note, scratch_engine

INSTANCES = 1_000_000
SCRAPE_BUDGET_MS = 100.0

_FILL = [
    """INSERT INTO process_definition (id, key, version, name, sha256, deployed_by, deployed_at)
       VALUES (1, 'bench', 1, 'bench', repeat('0', 64), 'bench', now())""",
    """INSERT INTO process_instance (id, definition_id, process_key, business_key, status, state, state_version,
                                    revision, started_by, started_at, updated_at)
       SELECT md5(n::text)::uuid, 1, 'bench', 'b-' || n,
              CASE WHEN n % 100 < 95 THEN 'completed' WHEN n % 100 < 98 THEN 'running'
                   WHEN n % 100 = 98 THEN 'cancelled' ELSE 'error' END,
              '{}', 1, 1, 'bench', now() - (n || ' seconds')::interval, now()
       FROM generate_series(1, :n) AS n""",
    """INSERT INTO human_task (id, instance_id, process_key, task_name, title, status, priority, created_at,
                              candidate_groups, candidate_users, excluded_users)
       SELECT md5('t' || n)::uuid, md5(n::text)::uuid, 'bench', 'review', 'Review',
              CASE WHEN n % 100 < 2 THEN 'open' WHEN n % 100 = 2 THEN 'claimed' ELSE 'completed' END,
              50, now() - (n || ' seconds')::interval, 'service_team', '', ''
       FROM generate_series(1, :n) AS n""",
    """INSERT INTO timer (instance_id, spiff_task_id, name, due_at, status, attempts)
       SELECT md5(n::text)::uuid, 'timer', 'wait', now() + (n || ' seconds')::interval, 'pending', 0
       FROM generate_series(1, :n, 33) AS n""",
    """INSERT INTO outbox_message (idempotency_key, channel, purpose, template, params, urgent, status, attempts,
                                  next_attempt_at, created_at, result_delivered, recipient_kind)
       SELECT 'k-' || n, 'sms', 'care', 'birthday', '{}',  false,
              CASE WHEN n % 500 = 0 THEN 'pending' WHEN n % 10000 = 1 THEN 'dead' ELSE 'sent' END, 1,
              now() - (n || ' seconds')::interval, now(), false, 'customer'
       FROM generate_series(1, :n) AS n""",
]


def run(line: Line, postgres: Callable[[], str | None]) -> None:
    postgres_url = postgres()
    if postgres_url is None:
        print("bench scale skipped: PostgreSQL unreachable", flush=True)
        return
    nodes(line, postgres_url)
    scrape(line, postgres_url)


def nodes(line: Line, postgres_url: str) -> None:
    import tempfile
    from pathlib import Path

    from bench import http
    from engine.privacy import new_data_key

    key = new_data_key()
    with scratch_engine(postgres_url, "nodes") as scratch, tempfile.TemporaryDirectory() as tmp:
        url = scratch.db.url.render_as_string(hide_password=False)  # type: ignore[attr-defined]
        ctx, tokens = http.setup(url, key, 4)
        ctx.db.dispose()
        names = [name for name in tokens if name != "pages"][:4]
        servers, bases = [], []
        try:
            for n in range(2):
                port = http.free_port()
                servers.append(http.serve(url, key, port, Path(tmp) / f"node{n}.log"))
                bases.append(f"http://127.0.0.1:{port}")
            rates = {}
            for count in (1, 2):
                clients = [http.Client(bases[i % count], tokens[name]) for i, name in enumerate(names)]
                http.drive(clients, None, rounds=http.WARMUP)  # every worker of every node warm
                rates[count] = http.drive(clients, http.SECONDS)
                for client in clients:
                    client.http.close()
        finally:
            for server in servers:
                http.stop(server)
    unit = f"lifecycles/s(postgresql,granian={http.WORKERS}x{http.THREADS} per node)"
    line("http_lifecycle_pg_c4_nodes1", rates[1], unit, rates[1])
    line("http_lifecycle_pg_c4_nodes2", rates[2], unit, rates[1])


def scrape(line: Line, postgres_url: str) -> None:
    from engine.db import migrate
    from web import create_app

    with scratch_engine(postgres_url, "scale") as ctx:
        migrate.upgrade(ctx.db)  # type: ignore[attr-defined]
        note(f"scale: writing {INSTANCES:,} instances, tasks and outbox messages")
        with ctx.db.begin() as conn:  # type: ignore[attr-defined]
            for statement in _FILL:
                conn.execute(text(statement), {"n": INSTANCES})
        with ctx.db.connect() as conn:  # type: ignore[attr-defined]
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        client = create_app({"TESTING": True, "SECRET_KEY": "bench"}, engine=ctx).test_client()
        local = {"REMOTE_ADDR": "127.0.0.1"}
        assert client.get("/metrics", environ_base=local).status_code == 200  # warm: plans, pools
        times = []
        for _ in range(15):
            started = time.perf_counter()
            body = client.get("/metrics", environ_base=local).get_data(as_text=True)
            times.append((time.perf_counter() - started) * 1000)
        assert 'careflow_instances{state="completed"} 950000.0' in body, body[:2000]
        line("metrics_scrape_ms", statistics.median(times), "ms", SCRAPE_BUDGET_MS)
