"""Report pages under load (PostgreSQL): the dashboard and process analytics with 1,000,000 instances and 5,000,000 tasks.

Data is generated inside PostgreSQL with ``INSERT … SELECT generate_series`` (no round trips): 100,000
customers of 200 managers in 20 teams and 20 branches, 12 monthly AUM snapshots, 16 process versions,
1,000,000 instances over the year before the clock (85% completed, 10% running, 3% cancelled, 2% failed)
with 5 tasks each (the running ones' last task open or claimed, so 100,000 open tasks), 200,000 complaints,
200,000 leads and 1,000,000 outbox messages (half of them greetings). The secondary indexes and foreign-key
triggers are off during the load and rebuilt after it, then VACUUM ANALYZE (the steady state autovacuum
reaches). Scale with CAREFLOW_BENCH_REPORTS_INSTANCES (default 1,000,000; tasks are 5 per instance).

Measured: each page as a signed-in user through Flask's test client (the engine queries, the template, the
JSON chart data), p95 over up to 30 calls or 8 s:

- reports_dashboard_p95: a supervisor's dashboard, last 30 days, the whole bank;
- reports_dashboard_team_p95: the same filtered to one team (10 managers);
- reports_dashboard_own_p95: a customer manager's own portfolio;
- reports_scorecards_p95 / _team_p95: the customer-manager scorecards, whole bank (200 managers) / one team;
- reports_processes_p95: process analytics of the busiest process's latest version.

Baseline: the same pages on the same kind of database holding 1% of the data (built first, same run).
Each SQL statement the dashboard sends is EXPLAINed (ANALYZE, BUFFERS) on the large database; the plans go to
stderr with a summary of any sequential scan. Target: p95 < 300 ms per page.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, event, text

from bench.common import Line, note, percentile
from engine.clock import FrozenClock
from engine.config import DatabaseSettings, PrivacySettings, Settings, normalize_database_url
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.privacy import new_data_key
from engine.services import identity

INSTANCES = int(os.environ.get("CAREFLOW_BENCH_REPORTS_INSTANCES", "1000000"))
NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
REPEAT, REPEAT_SECONDS = 30, 8.0
PASSWORD = "bench-password-1"
PROCESSES = ("complaint_handling", "periodic_revisit", "birthday_care", "holiday_care", "service_request",
             "cross_sell_followup", "customer_onboarding", "risk_reassess")
LOADED = ("human_task", "process_instance", "complaint", "sales_lead", "outbox_message", "aum_snapshot", "customer")


def load_sql(n: int) -> list[str]:
    """The bulk load for ``n`` instances (5n tasks; customers, complaints, leads and messages scale with n)."""
    customers, complaints, leads, messages = max(1000, n // 10), max(200, n // 5), max(200, n // 5), n
    now = f"timestamptz '{NOW.isoformat()}'"
    year = f"({now} - interval '365 days')"
    return [
        "INSERT INTO app_group (name) SELECT 'team' || lpad(g::text, 2, '0') FROM generate_series(0, 19) g",
        f"""INSERT INTO app_user (username, display_name, roles, active, created_at, failed_logins, skills)
            SELECT 'm' || lpad(m::text, 3, '0'), 'Manager ' || m, 'staff', true, {now}, 0, ''
            FROM generate_series(0, 199) m WHERE m <> 7""",  # m007 signs in: created with a password below
        """INSERT INTO group_membership (user_id, group_id)
            SELECT u.id, g.id FROM app_user u JOIN app_group g
              ON g.name = 'team' || lpad((substr(u.username, 2)::int % 20)::text, 2, '0') WHERE u.username LIKE 'm%'""",
        f"""INSERT INTO customer (id, birthday_calendar, tier, branch, manager, language, preferred_channel,
              do_not_disturb, status, aum, professional_investor, qualified_investor, lunar_leap, customer_since,
              created_at, updated_at)
            SELECT 'C' || lpad(c::text, 9, '0'), 'solar',
                   (ARRAY['mass','gold','platinum','diamond','private'])[1 + c % 5], 'branch' || lpad((c % 20)::text, 2, '0'),
                   'm' || lpad((c % 200)::text, 3, '0'), 'zh-CN', 'sms', c % 17 = 0,
                   CASE WHEN c % 50 = 0 THEN 'closed' WHEN c % 37 = 0 THEN 'dormant' ELSE 'active' END,
                   (c % 1000) * 1000, false, false, false, date '2020-01-01' + (c % 2200), {now}, {now}
            FROM generate_series(0, {customers - 1}) c""",
        f"""INSERT INTO aum_snapshot (month, customer_id, manager, branch, tier, status, aum, taken_at)
            SELECT (date '2025-02-01' + make_interval(months => k))::date, c.id, c.manager, c.branch, c.tier,
                   'active', c.aum * (0.9 + k * 0.01), {now}
            FROM customer c CROSS JOIN generate_series(0, 11) k""",
        f"""INSERT INTO process_definition (key, version, name, sha256, deployed_by, deployed_at)
            SELECT (ARRAY{list(PROCESSES)})[1 + d / 2], 1 + d % 2, 'p' || d, repeat('0', 64), 'bench', {year}
            FROM generate_series(0, {2 * len(PROCESSES) - 1}) d""",
        f"""INSERT INTO process_instance (id, definition_id, process_key, customer_id, status, state, state_version,
              revision, started_by, started_at, updated_at, ended_at)
            SELECT md5('i' || i)::uuid, d.id, d.key, 'C' || lpad((i % {customers})::text, 9, '0'),
                   CASE WHEN i % 100 < 85 THEN 'completed' WHEN i % 100 < 95 THEN 'running'
                        WHEN i % 100 < 98 THEN 'cancelled' ELSE 'error' END, '{{}}', 1, 1, 'bench',
                   {year} + (i::float / {n}) * interval '365 days',
                   {year} + (i::float / {n}) * interval '365 days',
                   CASE WHEN i % 100 < 85 OR i % 100 BETWEEN 95 AND 97
                        THEN {year} + (i::float / {n}) * interval '365 days' + (i % 97) * interval '1 hour' END
            FROM generate_series(0, {n - 1}) i
            JOIN process_definition d ON d.id = (SELECT min(id) FROM process_definition) + (i * 7 % 16)""",
        f"""INSERT INTO human_task (id, instance_id, process_key, customer_id, task_name, title, status, assignee,
              priority, due_at, created_at, claimed_at, completed_at, completed_by, candidate_groups, candidate_users,
              excluded_users)
            SELECT md5('t' || t)::uuid, p.id, p.process_key, p.customer_id,
                   (ARRAY['acknowledge','triage','investigate','approve','answer'])[1 + t % 5], 'task',
                   CASE WHEN p.status = 'running' AND t % 5 = 4 THEN (CASE WHEN t % 3 = 0 THEN 'open' ELSE 'claimed' END)
                        WHEN p.status = 'running' OR p.status = 'completed' THEN 'completed' ELSE 'cancelled' END,
                   CASE WHEN p.status = 'running' AND t % 5 = 4 AND t % 3 = 0 THEN NULL
                        ELSE 'm' || lpad((t / 5 % 200)::text, 3, '0') END,
                   50, p.started_at + (t % 5) * interval '3 hours' + interval '2 days',
                   p.started_at + (t % 5) * interval '3 hours', NULL,
                   CASE WHEN NOT (p.status = 'running' AND t % 5 = 4) AND p.status IN ('running', 'completed')
                        THEN p.started_at + (t % 5) * interval '3 hours' + (t % 11 + 1) * interval '20 minutes' END,
                   NULL, 'team00', '', ''
            FROM generate_series(0, {5 * n - 1}) t JOIN process_instance p ON p.id = md5('i' || (t / 5))::uuid""",
        f"""INSERT INTO complaint (case_no, customer_id, channel, business_type, cause, summary, facts,
              request, group_size, major_incident, severity, status, received_at, clock_started_on, target_due_on,
              legal_due_on, warn_on, extension, paused_days, answered_at, satisfaction, review_requested_at, source,
              created_at, updated_at)
            SELECT 'TS-' || k, 'C' || lpad((k * 13 % {customers})::text, 9, '0'),
                   (ARRAY['counter','phone','mobile_app','wechat','letter','online_banking'])[1 + k % 6],
                   (ARRAY['savings','loans','bank_cards','payment','wealth','other'])[1 + k % 6],
                   (ARRAY['service','systems','rules','marketing','disclosure','fees','personal_info'])[1 + k % 7],
                   's', '', '', 1, false, 'normal', CASE WHEN k % 10 = 0 THEN 'investigating' ELSE 'closed' END, r, r::date,
                   r::date + 15, r::date + 15, r::date + 10, 'none', 0,
                   CASE WHEN k % 10 <> 0 THEN r + (k % 40) * interval '1 day' END,
                   CASE WHEN k % 10 <> 0 AND k % 3 = 0 THEN 1 + k % 5 END,
                   CASE WHEN k % 50 = 1 THEN r + interval '20 days' END, 'bench', r, r
            FROM (SELECT k, {year} + (k::float / {complaints}) * interval '365 days' AS r
                  FROM generate_series(0, {complaints - 1}) k) s""",
        """INSERT INTO product (code, name, family, risk_level, private, cooling_off_hours, active)
            VALUES ('WMP1', '理财', 'wmp', 2, false, 0, true)""",
        f"""INSERT INTO sales_lead (id, customer_id, product_code, source, reason, status, contact_outcome, created_by,
              created_at, updated_at)
            SELECT md5('l' || k), 'C' || lpad((k * 7 % {customers})::text, 9, '0'), 'WMP1', 'campaign', 'r',
                   (ARRAY['new','contacted','interested','declined','blocked','sold','cancelled'])[1 + k % 7],
                   CASE WHEN k % 7 IN (1, 2, 3, 5, 6) THEN 'interested' END, 'bench',
                   {year} + (k::float / {leads}) * interval '365 days', {now}
            FROM generate_series(0, {leads - 1}) k""",
        f"""INSERT INTO outbox_message (idempotency_key, customer_id, channel, purpose, template, params, urgent, status,
              status_reason, attempts, next_attempt_at, created_at, result_delivered)
            SELECT 'o' || k, 'C' || lpad((k % {customers})::text, 9, '0'), 'sms', 'service',
                   (ARRAY['birthday_greeting','holiday_greeting','complaint_ack','revisit_reminder'])[1 + k % 4], '{{}}',
                   false, (ARRAY['sent','sent','sent','suppressed','suppressed','dead','pending'])[1 + k % 7],
                   CASE k % 7 WHEN 3 THEN 'opted_out' WHEN 4 THEN 'do_not_disturb' END, 1,
                   {year} + (k::float / {messages}) * interval '365 days',
                   {year} + (k::float / {messages}) * interval '365 days', false
            FROM generate_series(0, {messages - 1}) k""",
    ]


def load(ctx: EngineContext, n: int) -> None:
    """Bulk-load ``n`` instances' worth of data with the secondary indexes and FK triggers off, then rebuild."""
    begin = time.perf_counter()
    with ctx.db.begin() as conn:
        indexes = conn.execute(text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname "
            "JOIN pg_index x ON x.indexrelid = c.oid WHERE i.tablename = ANY(:t) AND NOT x.indisprimary "
            "AND NOT x.indisunique"), {"t": list(LOADED)}).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK triggers during the load
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        for statement in load_sql(n):
            step = time.perf_counter()
            result = conn.execute(text(statement))
            note(f"reports: {result.rowcount} rows, {time.perf_counter() - step:.1f} s: {' '.join(statement.split())[:70]}")
    loaded = time.perf_counter()
    with ctx.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '256MB'"))
        for _, definition in indexes:
            conn.execute(text(definition))
        indexed = time.perf_counter()
        conn.execute(text("VACUUM ANALYZE"))
    note(f"reports: {n} instances loaded in {loaded - begin:.1f} s, {len(indexes)} indexes rebuilt in "
         f"{indexed - loaded:.1f} s, VACUUM ANALYZE {time.perf_counter() - indexed:.1f} s")


def signed_in(app: Any, username: str) -> Any:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"bench login as {username} failed: {response.status_code}")
    return client


PAGES = {  # name: (user, path)
    "dashboard": ("boss", "/reports"),
    "dashboard_team": ("boss", "/reports?team=team07"),
    "dashboard_own": ("m007", "/reports"),
    "scorecards": ("boss", "/reports/scorecards"),
    "scorecards_team": ("boss", "/reports/scorecards?team=team07"),
    "processes": ("boss", "/reports/processes?key=complaint_handling"),
}


def measure(ctx: EngineContext) -> dict[str, float]:
    from web import create_app

    app = create_app({"SECRET_KEY": "bench"}, engine=ctx)
    clients = {user: signed_in(app, user) for user in ("boss", "m007")}
    result = {}
    for name, (user, path) in PAGES.items():
        def call(client: Any = clients[user], path: str = path) -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} → {response.status_code}: {response.get_data(as_text=True)[:300]}")
        call()  # warm-up
        samples: list[float] = []
        begin = time.perf_counter()
        while len(samples) < REPEAT and (len(samples) < 5 or time.perf_counter() - begin < REPEAT_SECONDS):
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1000)
        result[name] = percentile(samples, 95)
    return result


def explain(ctx: EngineContext) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) every statement a supervisor's dashboard sends; list sequential scans."""
    from engine.reporting import service as reports

    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    boss = identity.get_actor(ctx, "boss")
    event.listen(ctx.db, "before_cursor_execute", record)
    try:
        reports.dashboard(ctx, actor=boss)
        reports.dashboard(ctx, actor=boss, filters=reports.ReportFilters(team="team07"))
        reports.scorecard_report(ctx, actor=boss)
        reports.process_analytics(ctx, "complaint_handling", actor=boss)
    finally:
        event.remove(ctx.db, "before_cursor_execute", record)
    scans = []
    with ctx.db.connect() as conn:
        for statement, parameters in seen:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters))
            note(f"reports plan: {' '.join(statement.split())[:300]}\n{plan}")
            scans += [f"{m} ({plan.splitlines()[-1].strip()})" for m in re.findall(r"Seq Scan on (\w+)", plan)]
    note(f"reports: {len(seen)} statements explained; sequential scans: {', '.join(scans) or 'none'}")


def build(url: str, n: int) -> EngineContext:
    ctx = build_engine(Settings(database=DatabaseSettings(url=url),
                                privacy=PrivacySettings(data_key=new_data_key())), clock=FrozenClock(NOW))
    migrate.upgrade(ctx.db)
    load(ctx, n)
    identity.create_user(ctx, username="boss", roles=["supervisor"], groups=["supervisors"], password=PASSWORD)
    identity.create_user(ctx, username="m007", roles=["staff"], groups=["team07"], password=PASSWORD)
    return ctx


def run(line: Line, postgres_url: Callable[[], str | None]) -> None:
    url = postgres_url()
    if url is None:
        print("bench reports_dashboard_p95 skipped: PostgreSQL unreachable (set CAREFLOW_BENCH_POSTGRES_URL)", flush=True)
        return
    admin = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    figures = {}
    try:
        for label, n in (("small", max(1000, INSTANCES // 100)), ("large", INSTANCES)):
            name = f"careflow_bench_reports_{label}_{os.getpid()}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                ctx = build(admin.url.set(database=name).render_as_string(hide_password=False), n)
                try:
                    figures[label] = measure(ctx)
                    if label == "large":
                        explain(ctx)
                finally:
                    ctx.db.dispose()
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
    unit = f"ms(p95,instances={INSTANCES},tasks={5 * INSTANCES},baseline=1%)"
    for page in PAGES:
        line(f"reports_{page}_p95_postgres", figures["large"][page], unit, figures["small"][page])
