"""Operations' view of a node: /metrics (Prometheus text), /readyz, and the request id on answers and log lines."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.outbox.models import OutboxMessage
from engine.services import instances, scheduler_health
from engine.services.scheduler_health import Beat
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy
from web import create_app
from web.logsafe import JsonFormatter
from web.request_id import RequestIdFilter

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def _beat(ctx, job: str) -> None:
    now = ctx.clock.now()
    scheduler_health.record(ctx, "sched-1:100", [Beat(job, now, now, now, None, None, now + timedelta(seconds=30))])


def _outbox(ctx, key: str, status: str, due) -> None:
    with Session(ctx.db) as session, session.begin():
        session.add(OutboxMessage(idempotency_key=key, channel="sms", purpose="care", template="birthday", params={},
                                  status=status, next_attempt_at=due, created_at=due))


def test_metrics_count_the_engine_s_state_as_the_database_holds_it(app, ctx, clock):
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    waiting = b.linear("waiting", b.timer_catch("wait", "duration", '"PT1H"'))
    deploy(ctx, ("waiting.bpmn", waiting))
    for number in range(3):
        instances.start_instance(ctx, process_key="simple", actor=SYSTEM, business_key=f"s-{number}")
    instances.start_instance(ctx, process_key="waiting", actor=SYSTEM)
    _outbox(ctx, "m-1", "pending", clock.now() - timedelta(minutes=5))
    _outbox(ctx, "m-2", "dead", clock.now())
    _beat(ctx, "timers.sweep")
    clock.advance(timedelta(hours=1, seconds=30))  # the timer is 30 s late: no scheduler fired it

    response = app.test_client().get("/metrics", environ_base=LOCAL)
    assert response.status_code == 200 and response.mimetype == "text/plain"
    found = _samples(response.get_data(as_text=True))
    assert found[("careflow_instances", (("state", "running"),))] == 4
    assert found[("careflow_instances", (("state", "completed"),))] == 0
    assert found[("careflow_tasks", (("state", "open"),))] == 3
    assert found[("careflow_incidents", ())] == 0
    assert found[("careflow_timers_pending", ())] == 1
    assert found[("careflow_timer_lag_seconds", ())] == 30
    assert found[("careflow_outbox_messages", (("state", "pending"),))] == 1
    assert found[("careflow_outbox_messages", (("state", "dead"),))] == 1
    assert found[("careflow_outbox_oldest_due_seconds", ())] == 5 * 60 + 3630
    assert found[("careflow_scheduler_heartbeat_age_seconds", (("scheduler_job", "timers.sweep"),))] == 3630
    assert found[("careflow_scheduler_job_stale", (("scheduler_job", "timers.sweep"),))] == 1


def test_request_latency_is_counted_by_route_pattern_never_by_concrete_path(app, ctx):
    client = app.test_client()
    before = _samples(client.get("/metrics", environ_base=LOCAL).get_data(as_text=True))
    key = ("careflow_http_request_duration_seconds_count", (("method", "GET"), ("route", "/complaints/<case_no>"),
                                                             ("status", "3xx")))
    for case in ("c-1", "c-2"):
        client.get(f"/complaints/{case}")  # not signed in: redirected to the login page
    client.get("/no/such/page")
    after = _samples(client.get("/metrics", environ_base=LOCAL).get_data(as_text=True))
    routes = {dict(labels).get("route") for name, labels in after if name.startswith("careflow_http")}
    assert "/complaints/c-1" not in routes and "<unmatched>" in routes
    assert after.get(key, 0) - before.get(key, 0) == 2


def test_metrics_are_for_this_machine_unless_a_scraper_token_is_set(app, ctx, settings):
    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    from dataclasses import replace

    from engine.context import build_engine

    guarded = create_app({"TESTING": True, "SECRET_KEY": "test"},
                         engine=build_engine(replace(settings, core=replace(settings.core, metrics_token="scrape-secret")),
                                                      clock=ctx.clock, db=ctx.db))
    client = guarded.test_client()
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=remote).status_code == 401
    assert client.get("/metrics", environ_base=LOCAL).status_code == 401  # a token, once set, is needed from here too
    wrong = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "CAREFLOW_METRICS_TOKEN" in wrong.get_data(as_text=True)
    right = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer scrape-secret"})
    assert right.status_code == 200 and "careflow_instances" in right.get_data(as_text=True)


def test_readyz_waits_for_a_scheduler_and_names_what_is_missing(app, ctx, clock):
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "migrations": "ok",
                                       "scheduler": "no scheduler has written a heartbeat"}
    for job in ("timers.sweep", "outbox.dispatch"):
        _beat(ctx, job)
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "ready"
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds + 1))
    stopped = app.test_client().get("/readyz")
    assert stopped.status_code == 503 and stopped.json["checks"]["scheduler"].startswith("stopped jobs: ")


def test_readyz_refuses_a_database_behind_the_code_s_migrations(app, ctx):
    for job in ("timers.sweep",):
        _beat(ctx, job)
    with ctx.db.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        response = app.test_client().get("/readyz")
    finally:
        with ctx.db.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert response.status_code == 503
    assert response.json["checks"]["migrations"] == f"database at 0001, code needs {head}"


def test_each_answer_carries_a_request_id_and_a_caller_s_plain_one_is_kept(app):
    client = app.test_client()
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    assert client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2"}).headers["X-Request-ID"] == "lb-7f3a.2"
    forged = client.get("/healthz", headers={"X-Request-ID": "x admin 200 <script>"}).headers["X-Request-ID"]
    assert forged != "x admin 200 <script>" and len(forged) == 32


def test_json_log_lines_carry_the_request_id_of_the_request_that_wrote_them(app):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    probe = logging.getLogger("tests.operations.probe")
    probe.addHandler(handler)
    try:
        @app.get("/_probe")
        def _probe() -> str:
            probe.warning("customer asked\nforged line")
            return "ok"

        app.test_client().get("/_probe", headers={"X-Request-ID": "req-42"})
        probe.warning("outside any request")
    finally:
        probe.removeHandler(handler)
    inside, outside = (json.loads(JsonFormatter().format(record)) for record in records)
    assert inside["request_id"] == "req-42" and inside["message"] == "customer asked\nforged line"
    assert "\n" not in JsonFormatter().format(records[0])  # one line: the newline is escaped by JSON
    assert outside["request_id"] == "-" and inside["level"] == "WARNING" and inside["time"].endswith("Z")


def test_live_instances_are_counted_at_each_scrape_ended_ones_at_most_once_a_minute(app, ctx, clock, people):
    from tests.support.engine import claim_and_complete, open_tasks

    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    first = instances.start_instance(ctx, process_key="simple", actor=SYSTEM)
    client = app.test_client()

    def scrape() -> tuple[float, float]:
        found = _samples(client.get("/metrics", environ_base=LOCAL).get_data(as_text=True))
        return (found[("careflow_instances", (("state", "running"),))],
                found[("careflow_instances", (("state", "completed"),))])

    assert scrape() == (1, 0)
    claim_and_complete(ctx, open_tasks(ctx, str(first.id))[0].id, people["alice"])
    assert scrape() == (0, 0)  # the running count is exact; the ended count is a minute old at most
    clock.advance(timedelta(seconds=61))
    assert scrape() == (0, 1)
