"""``/metrics`` in Prometheus' text format: request latency by route from this node's workers, and the engine's
state (instances and tasks by state, timer lag, outbox backlog and dead letters, scheduler heartbeat age,
incidents) read from the database at each scrape (engine.services.operations).

Several worker processes: ``careflow serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the
workers start, each worker writes its request figures there, and whichever worker answers a scrape adds them up
(prometheus-client's multi-process mode). The engine figures are the database's, so they are read once per scrape,
not summed over workers.

Who may scrape: with ``CAREFLOW_METRICS_TOKEN`` set, a caller with ``Authorization: Bearer <token>``; unset, only
this machine (loopback). The figures carry no personal data, but they do tell how busy the bank is.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from engine.care import waves
from engine.context import EngineContext
from engine.services import operations
from web.auth import client_address
from web.engine_access import current_engine

bp = Blueprint("metrics", __name__)

# Request latency (seconds) by route pattern (never the concrete path: ids would make a series per case), method
# and status class. Buckets from a 2 ms page to a 10 s report.
REQUESTS = Histogram(
    "careflow_http_request_duration_seconds", "HTTP request latency by route",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class EngineCollector(Collector):
    """The engine's state, read at each scrape."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.perf_counter()
        found = operations.figures(self._ctx)
        instances = GaugeMetricFamily("careflow_instances", "Process instances by state", labels=["state"])
        for state, count in sorted(found.instances.items()):
            instances.add_metric([state], count)
        yield instances
        tasks = GaugeMetricFamily("careflow_tasks", "Open and claimed human tasks", labels=["state"])
        for state, count in sorted(found.live_tasks.items()):
            tasks.add_metric([state], count)
        yield tasks
        yield GaugeMetricFamily("careflow_incidents", "Instances a step failed on, waiting for a person",
                                value=found.incidents)
        yield GaugeMetricFamily("careflow_timers_pending", "Timers waiting to fire", value=found.timers_pending)
        yield GaugeMetricFamily("careflow_timer_lag_seconds", "How late the oldest due timer is (0: none is due)",
                                value=found.timer_lag_seconds)
        outbox = GaugeMetricFamily("careflow_outbox_messages", "Outbox messages not yet sent, and dead letters",
                                   labels=["state"])
        for state, count in sorted(found.outbox.items()):
            outbox.add_metric([state], count)
        yield outbox
        yield GaugeMetricFamily("careflow_outbox_oldest_due_seconds",
                                "How long the oldest pending outbox message has been due (0: none)",
                                value=found.outbox_oldest_due_seconds)
        beats = GaugeMetricFamily("careflow_scheduler_heartbeat_age_seconds",
                                  "Seconds since a scheduler job's freshest heartbeat", labels=["scheduler_job"])
        for job, age in sorted(found.heartbeat_age_seconds.items()):
            beats.add_metric([job], age)
        yield beats
        stale = GaugeMetricFamily("careflow_scheduler_job_stale", "1 when no scheduler runs the job any more",
                                  labels=["scheduler_job"])
        for job in sorted(found.heartbeat_age_seconds):
            stale.add_metric([job], 1 if job in found.stale_jobs else 0)
        yield stale
        chunks = GaugeMetricFamily("careflow_wave_chunks", "Chunks of the last week's care waves by scan and state",
                                   labels=["job", "state"])
        customers = GaugeMetricFamily("careflow_wave_customers", "Customers the last week's care waves processed: "
                                      "instances started, or skipped as started before", labels=["job", "outcome"])
        seen: set[str] = set()
        for wave_job, wave_state, count, started, skipped in waves.chunk_figures(self._ctx):
            chunks.add_metric([wave_job, wave_state], count)
            if wave_job not in seen:
                seen.add(wave_job)
                customers.add_metric([wave_job, "started"], started)
                customers.add_metric([wave_job, "skipped"], skipped)
        yield chunks
        yield customers
        yield GaugeMetricFamily("careflow_metrics_read_seconds", "Time the database reading of this scrape took",
                                value=time.perf_counter() - started)


def init_app(app: Flask, ctx: EngineContext) -> None:
    app.register_blueprint(bp)
    app.extensions["careflow.metrics"] = EngineCollector(ctx)
    app.before_request(_start_timer)
    app.teardown_request(_observe)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(error: BaseException | None) -> None:
    started = g.pop("metrics_started", None)
    if started is None or request.endpoint == "metrics.scrape":
        return
    rule = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    status = getattr(g, "metrics_status", None) or ("5xx" if error is not None else "?")
    REQUESTS.labels(rule, request.method, status).observe(time.perf_counter() - started)


@bp.after_app_request
def _remember_status(response: Response) -> Response:
    g.metrics_status = f"{response.status_code // 100}xx"
    return response


@bp.get("/metrics")
def scrape() -> Any:
    _authorize(current_engine().settings.core.metrics_token)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(current_app.extensions["careflow.metrics"])
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _authorize(token: str | None) -> None:
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            abort(401, description="metrics need Authorization: Bearer <CAREFLOW_METRICS_TOKEN>")
        return
    try:
        local = ip_address(client_address() or "").is_loopback
    except ValueError:
        local = False
    if not local:
        abort(403, description="metrics are served to this machine only; set CAREFLOW_METRICS_TOKEN for a scraper")
