"""The task lifecycle over real HTTP, against the app served by granian (``careflow serve``) on SQLite.

One lifecycle is five API calls, each with its own bearer token check: ``POST /api/v1/instances`` (start),
``GET /api/v1/tasks?view=queue`` (list the inbox and find the new task), ``GET /api/v1/tasks/{id}`` (open it:
form and data), ``POST .../claim`` and ``POST .../complete`` with form data (validated against the task's form).

- http_lifecycle_c1_sqlite / http_lifecycle_c4_sqlite: lifecycles/s with 1 and 4 client threads, each an
  kept-alive HTTP connection with its own user and token (claims never collide), after a warm-up that reaches every worker.
  Baseline: ``engine_lifecycle`` from bench/__main__.py (start → claim → complete through the engine services,
  in-process, no HTTP) on its own SQLite file in the same run. A note gives both against the raw SpiffWorkflow
  lifecycle of the same run (issue 18's target: c1 ≥ 0.06× raw, c4 ≥ 1.3× c1) and the load average.
- http_c<N>_<call>_p50 / _p95: per-call latency in ms. Baseline: the same service call made in-process
  (no HTTP, no token check) against the same database just before the server starts, one client.
- task_page_p95_sqlite: the staff task page (``GET /inbox/tasks/{id}``: HTML with the form, the case file and the
  history) for a signed-in clerk, one client. Baseline: the same task as JSON (``GET /api/v1/tasks/{id}``) over
  the same kind of connection, so the ratio is what the page costs beyond the API.

The server runs as a subprocess exactly like ``careflow serve --workers W --threads T`` (W =
CAREFLOW_BENCH_HTTP_WORKERS, default serve's own: one per core, at least 2; T = CAREFLOW_BENCH_HTTP_THREADS, default
serve's 1: Python threads per worker), with DATABASE_URL and CAREFLOW_DATA_KEY in its environment, access log on; the
bench waits for /healthz. CAREFLOW_BENCH_HTTP_SECONDS (default 8) is the measuring time per
concurrency level.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from bench.common import Line, note, percentile
from bench.processes import one_task_bpmn
from engine.bpmn.loader import SourceFile
from engine.config import DatabaseSettings, PrivacySettings, Settings
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.privacy import new_data_key
from engine.services import definitions, identity, instances, tasks
from engine.views import Actor
from web.server import default_workers

SECONDS = float(os.environ.get("CAREFLOW_BENCH_HTTP_SECONDS", "8"))
WORKERS = int(os.environ.get("CAREFLOW_BENCH_HTTP_WORKERS") or default_workers())
THREADS = int(os.environ.get("CAREFLOW_BENCH_HTTP_THREADS", "1"))
LEVELS = (1, 4)
WARMUP = 5  # lifecycles per client before measuring
ROOT = Path(__file__).resolve().parent.parent
CALLS = ("start", "list", "open", "claim", "complete")
PROCESS = "bench_http"
FORM = {"id": "bench_answer", "type": "default",
        "components": [{"type": "textfield", "key": "answer", "validate": {"required": True}},
                       {"type": "checkbox", "key": "reached"}]}
BPMN = one_task_bpmn(PROCESS, "bench_answer")
ANSWER = {"answer": "客户已回访", "reached": True}

Timings = dict[str, list[float]]
PAGE_PASSWORD = "bench pages 1"
PAGE_CALLS = 200


def setup(url: str, key: str, clients: int) -> tuple[EngineContext, dict[str, str]]:
    """Schema, the form process, and one staff user with an API token per client thread."""
    ctx = build_engine(Settings(database=DatabaseSettings(url=url), privacy=PrivacySettings(data_key=key)))
    migrate.upgrade(ctx.db)
    files = [SourceFile(f"{PROCESS}.bpmn", BPMN), SourceFile("bench_answer.json", json.dumps(FORM).encode())]
    definitions.deploy_definition(ctx, files=files, actor=Actor("bench", frozenset({"designer"})))
    tokens = {}
    for i in range(clients):
        name = f"http{i}"
        identity.create_user(ctx, username=name, roles=["staff"], groups=["team"])
        tokens[name] = identity.create_token(ctx, username=name)
    identity.create_user(ctx, username="inproc", roles=["staff"], groups=["team"])
    identity.create_user(ctx, username="pages", roles=["staff"], groups=["team"], password=PAGE_PASSWORD)
    tokens["pages"] = identity.create_token(ctx, username="pages")
    return ctx, tokens


def engine_calls(ctx: EngineContext, seconds: float) -> tuple[Timings, float]:
    """The same five calls in-process (no HTTP, no token check), one client: (timings in ms, lifecycles/s)."""
    actor = identity.get_actor(ctx, "inproc")
    timings: Timings = {call: [] for call in CALLS}

    def timed(call: str, fn: Callable[[], Any]) -> Any:
        begin = time.perf_counter()
        result = fn()
        timings[call].append((time.perf_counter() - begin) * 1000)
        return result

    def lifecycle() -> None:
        started = timed("start", lambda: instances.start_instance(ctx, process_key=PROCESS, actor=actor,
                                                                 variables={"channel": "phone"}))
        page = timed("list", lambda: tasks.list_tasks(ctx, actor=actor, view="queue"))
        [task] = [t for t in page.items if t.instance_id == started.id]
        timed("open", lambda: tasks.get_task(ctx, task.id, actor=actor))
        timed("claim", lambda: tasks.claim_task(ctx, task.id, actor=actor))
        done = timed("complete", lambda: tasks.complete_task(ctx, task.id, actor=actor, data=ANSWER))
        assert done.status == "completed"

    for _ in range(WARMUP):
        lifecycle()
    timings = {call: [] for call in CALLS}
    count, begin = 0, time.perf_counter()
    while time.perf_counter() - begin < seconds:
        lifecycle()
        count += 1
    return timings, count / (time.perf_counter() - begin)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(url: str, key: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``careflow serve`` as a subprocess (granian's main process + WORKERS workers); returns once /healthz answers."""
    env = {**os.environ, "DATABASE_URL": url, "CAREFLOW_DATA_KEY": key, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-c", "from web.cli import run; run()", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(WORKERS), "--threads", str(THREADS)]
    with open(log, "wb") as errors:
        # stdout is the access log (one line per request): written, as in production, but not kept here.
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop(server)
    raise RuntimeError(f"the server did not answer /healthz within 60 s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server process we started (it stops its workers), SIGKILL if it hangs."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class Client:
    """One clerk: a kept-alive HTTP/1.1 connection and a bearer token.

    The standard library's ``http.client`` rather than httpx: the client shares the machine's two cores
    with the server, and its own cost per call (httpx ~0.5 ms more) would be counted as the server's.
    """

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self.http = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.timings: Timings = {call: [] for call in CALLS}
        self.done = 0

    def call(self, name: str, method: str, path: str, expect: int, *, json_body: Any = None,
             params: dict[str, str] | None = None) -> Any:
        if params:
            path = f"{path}?{urlencode(params)}"
        headers = dict(self.headers)
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        begin = time.perf_counter()
        self.http.request(method, path, body=body, headers=headers)
        response = self.http.getresponse()
        payload = response.read()
        self.timings[name].append((time.perf_counter() - begin) * 1000)
        if response.status != expect:
            raise RuntimeError(f"{method} {path} → {response.status} (expected {expect}): {payload[:500]!r}")
        return json.loads(payload)

    def lifecycle(self) -> None:
        started = self.call("start", "POST", "/api/v1/instances", 201,
                            json_body={"process_key": PROCESS, "variables": {"channel": "phone"}})
        page = self.call("list", "GET", "/api/v1/tasks", 200, params={"view": "queue"})
        mine = [t for t in page["items"] if t["instance_id"] == started["id"]]
        if len(mine) != 1:
            raise RuntimeError(f"the queue's first page holds {len(mine)} tasks of instance {started['id']}")
        task_id = mine[0]["id"]
        opened = self.call("open", "GET", f"/api/v1/tasks/{task_id}", 200)
        if opened["form"] is None or opened["data"] != {"channel": "phone"}:
            raise RuntimeError(f"the task came without its form or data: {opened}")
        self.call("claim", "POST", f"/api/v1/tasks/{task_id}/claim", 200)
        done = self.call("complete", "POST", f"/api/v1/tasks/{task_id}/complete", 200, json_body={"data": ANSWER})
        if done["status"] != "completed":
            raise RuntimeError(f"complete returned {done}")
        self.done += 1


def task_page(base: str, token: str) -> tuple[list[float], list[float]]:
    """(page timings, API timings) in ms for one open task, as the clerk ``pages`` signed in through the form."""
    with httpx.Client(base_url=base, timeout=60) as browser, httpx.Client(
            base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as api:
        started = api.post("/api/v1/instances", json={"process_key": PROCESS, "variables": {"channel": "phone"}})
        task_id = next(t["id"] for t in api.get("/api/v1/tasks", params={"view": "queue"}).json()["items"]
                       if t["instance_id"] == started.json()["id"])
        login = browser.get("/login").text
        csrf = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed_in = browser.post("/login", data={"username": "pages", "password": PAGE_PASSWORD, "csrf_token": csrf})
        if signed_in.status_code != 302:
            raise RuntimeError(f"the bench clerk could not sign in: {signed_in.status_code}")
        timings: tuple[list[float], list[float]] = ([], [])
        for n in range(PAGE_CALLS + 10):  # the first ten warm every worker up
            for client, path, out in ((browser, f"/inbox/tasks/{task_id}", timings[0]),
                                      (api, f"/api/v1/tasks/{task_id}", timings[1])):
                begin = time.perf_counter()
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} → {response.status_code}")
                if n >= 10:
                    out.append((time.perf_counter() - begin) * 1000)
        return timings


def drive(clients: list[Client], seconds: float | None, rounds: int = 0) -> float:
    """Run every client in its own thread, together, for ``seconds`` (or ``rounds`` lifecycles); lifecycles/s."""
    barrier = threading.Barrier(len(clients) + 1)
    failures: list[BaseException] = []
    stop_at: list[float] = []

    def work(client: Client) -> None:
        try:
            barrier.wait()
            if seconds is None:
                for _ in range(rounds):
                    client.lifecycle()
            else:
                while time.perf_counter() < stop_at[0]:
                    client.lifecycle()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    before = sum(c.done for c in clients)
    begin = time.perf_counter()
    stop_at.append(begin + (seconds or 0))
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    if failures:
        raise RuntimeError(f"{len(failures)} client(s) failed") from failures[0]
    return (sum(c.done for c in clients) - before) / elapsed


def run(line: Line, engine_lifecycle: Callable[[str], tuple[EngineContext, Callable[[], None]]],
        rate: Callable[[Callable[[], None]], float],
        raw: Callable[[], tuple[Callable[[], Any], Callable[[], Any]]] | None = None) -> None:
    began = time.perf_counter()
    key = new_data_key()
    # Issue 18 states the HTTP target against the raw SpiffWorkflow lifecycle (bench/__main__.py): noted beside the
    # lines' own baseline, measured in the same run.
    raw_rate = rate(raw()[0]) if raw is not None else None
    with tempfile.TemporaryDirectory() as tmp:
        base_ctx, base_run = engine_lifecycle(f"sqlite:///{tmp}/engine.db")
        baseline = rate(base_run)
        base_ctx.db.dispose()
        url = f"sqlite:///{tmp}/http.db"
        ctx, tokens = setup(url, key, max(LEVELS))
        inproc, inproc_rate = engine_calls(ctx, min(SECONDS, 4.0))
        ctx.db.dispose()
        note(f"http: engine_lifecycle baseline {baseline:.1f}/s; the same five calls in-process {inproc_rate:.1f}/s")
        port = free_port()
        server = serve(url, key, port, Path(tmp) / "server.log")
        note(f"http: granian up on :{port} with {WORKERS} workers × {THREADS} threads after {time.perf_counter() - began:.1f} s")
        try:
            base = f"http://127.0.0.1:{port}"
            names = [name for name in tokens if name != "pages"]
            results: dict[int, tuple[float, Timings]] = {}
            # Warm-up: every client at once, on fresh connections, so every worker parses the process.
            warm = [Client(base, tokens[n]) for n in names]
            drive(warm, None, rounds=WARMUP)
            for client in warm:
                client.http.close()
            for level in LEVELS:
                clients = [Client(base, tokens[n]) for n in names[:level]]
                drive(clients, None, rounds=1)  # open each keep-alive connection first
                for client in clients:
                    client.timings = {call: [] for call in CALLS}
                measured = drive(clients, SECONDS)
                merged: Timings = {call: [v for c in clients for v in c.timings[call]] for call in CALLS}
                results[level] = (measured, merged)
                for client in clients:
                    client.http.close()
            pages, api_pages = task_page(base, tokens["pages"])
        finally:
            stop(server)
    unit = f"lifecycles/s(sqlite,granian={WORKERS}x{THREADS})"
    for level, (measured, _) in results.items():
        line(f"http_lifecycle_c{level}_sqlite", measured, unit, baseline)
    for level, (_, merged) in results.items():
        for call in CALLS:
            for q in (50, 95):
                line(f"http_c{level}_{call}_p{q}", percentile(merged[call], q), "ms", percentile(inproc[call], q))
    line("task_page_p95_sqlite", percentile(pages, 95), "ms(html page;baseline=the task as JSON)",
         percentile(api_pages, 95))
    if raw_rate:
        c1, c4 = results[1][0], results[4][0]
        note(f"http: raw SpiffWorkflow lifecycle {raw_rate:.1f}/s: c1 {c1 / raw_rate:.3f}× raw, "
             f"c4 {c4 / raw_rate:.3f}× raw, c4/c1 {c4 / c1:.2f}; load average {os.getloadavg()[0]:.1f}")
    counts = ", ".join(f"c{level}: {len(merged['start'])} lifecycles" for level, (_, merged) in results.items())
    note(f"http: {counts}; mean complete c1 {statistics.fmean(results[1][1]['complete']):.1f} ms; "
         f"group took {time.perf_counter() - began:.1f} s")
