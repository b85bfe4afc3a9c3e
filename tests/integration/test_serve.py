"""``careflow serve`` as production runs it: granian's processes serving the app, the scheduler beside them.

The server is started as a real subprocess on a free port against the test database. A bearer call gets its
answer without a session cookie, the access log names method, path and status but never the query string (a
search text may name a customer), and the scheduler child started by ``--with-scheduler`` goes when the server
is stopped.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from engine.clock import SystemClock
from engine.db.scheduling import SchedulerHeartbeat
from engine.services import identity
from tests.support.serve import free_port, kill_serve, serve_env, start_serve

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append((int(entry.name), command))
    return found


def _serve(settings, tmp_path, *options: str, **extra_env: str):
    """Start ``careflow serve`` on a free port; yield (process, base URL, log file) once it answers."""
    port, out = free_port(), tmp_path / "stdout.log"
    env = serve_env(settings.database.url, CAREFLOW_INSTANCE_DIR=str(tmp_path / "instance"), **extra_env)
    process = start_serve(port, env, out, *options)
    yield process, f"http://127.0.0.1:{port}", out
    kill_serve(process)  # the test may have failed before stopping it: take its workers and scheduler down too


@pytest.fixture
def server(ctx, people, settings, tmp_path):
    yield from _serve(settings, tmp_path, "--workers", "1", "--with-scheduler")


@pytest.fixture
def two_workers(ctx, people, settings, tmp_path):
    yield from _serve(settings, tmp_path, "--workers", "2")


def test_serve_answers_logs_without_query_strings_and_stops_its_scheduler(server, ctx):
    process, base, out = server
    ctx.clock.set(SystemClock().now())  # the server runs on the real clock: a token made in 2025 has expired there
    token = identity.create_token(ctx, username="alice")
    response = httpx.get(f"{base}/api/v1/tasks", params={"view": "queue", "q": "张三 13800138000"},
                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["items"] == []
    assert "set-cookie" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(f"{base}/api/v1/tasks").status_code == 401

    schedulers = [pid for pid, command in _children(process.pid) if command.split()[-1] == "scheduler"]
    assert len(schedulers) == 1
    deadline = time.monotonic() + 30  # the scheduler's first heartbeats reach /healthz
    while (health := httpx.get(f"{base}/healthz").json())["scheduler"]["status"] != "ok":
        assert time.monotonic() < deadline, health
        time.sleep(0.1)
    assert {job["last_heartbeat"] is not None for job in health["scheduler"]["jobs"].values()} == {True}
    assert {"timers.sweep", "outbox.dispatch", "sla.breaches", "care.scans"} <= health["scheduler"]["jobs"].keys()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log = out.read_text()
    assert '"GET /api/v1/tasks HTTP/1.1" 200' in log and '"GET /api/v1/tasks HTTP/1.1" 401' in log
    assert "13800138000" not in log and "view=" not in log
    assert not Path(f"/proc/{schedulers[0]}").exists()  # stopped and reaped by the server
    with ctx.sessions() as session:  # a clean stop is not a failure: its heartbeat rows went with it
        assert session.scalar(select(func.count()).select_from(SchedulerHeartbeat)) == 0


def test_metrics_add_up_the_requests_every_worker_served(two_workers, tmp_path):
    """Two worker processes answer in turn; any scrape shows the requests both served (multi-process mode)."""
    process, base, _ = two_workers
    folder = tmp_path / "instance" / "metrics" / str(process.pid)
    served = 1  # the fixture's start-up probe
    with httpx.Client(base_url=base) as client:  # one connection per request: the kernel spreads them over workers
        while len(list(folder.glob("histogram_*.db"))) < 2 or served < 20:
            assert client.get("/healthz", headers={"Connection": "close"}).status_code == 200
            served += 1
            assert served < 500, "one worker took every connection"
    scrapes = {_healthz_count(httpx.get(f"{base}/metrics").text) for _ in range(6)}
    assert scrapes == {served}
    assert [found.name for found in folder.parent.iterdir()] == [str(process.pid)]


def _healthz_count(body: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "careflow_http_request_duration_seconds_count" and sample.labels["route"] == "/healthz":
                return sample.value
    return 0.0
