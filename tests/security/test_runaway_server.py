"""One script never stops the service (finding 3), shown on the real server: `careflow serve` with its workers.

A designer deploys processes whose scripts run away (an endless loop, a huge allocation, a huge power, a format
width, deep recursion); while each start is running into its limit, /healthz and a staff member's task list keep
answering within a second. Each instance ends in ``error`` with a clear message, and the server goes on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from engine.clock import SystemClock
from engine.services import identity
from tests.support import bpmn as b
from tests.support.serve import free_port, kill_serve, serve_env, start_serve

ROOT = Path(__file__).resolve().parents[2]
RUNAWAY = {
    "loop": "while True:\n    x = 1\n",
    "allocation": "x = 'a' * 10**9\n",
    "power": "x = 10 ** 10 ** 9\n",
    "format_width": "w = 10**9\nx = f'{1:>{w}}'\n",
    "recursion": "def f(n):\n    return f(n + 1)\nf(0)\n",
    "doubling": "x = [0]\nwhile True:\n    x = x + x\n",
}


@pytest.fixture
def server(ctx, people, settings, tmp_path):
    port = free_port()
    process = start_serve(port, serve_env(settings.database.url), tmp_path / "stdout.log", "--workers", "2",
                          "--threads", "2")
    yield f"http://127.0.0.1:{port}"
    kill_serve(process)


def test_runaway_scripts_fail_their_own_instances_while_the_server_keeps_answering(server, ctx, people):
    ctx.clock.set(SystemClock().now())  # the server runs on the real clock: tokens made in 2025 have expired there
    dora = {"Authorization": f"Bearer {identity.create_token(ctx, username='dora')}"}
    alice = {"Authorization": f"Bearer {identity.create_token(ctx, username='alice')}"}
    with httpx.Client(base_url=server, timeout=30) as http:
        for name, script in RUNAWAY.items():
            xml = b.linear(f"runaway_{name}", b.script_task("work", script), b.user_task("after"))
            deployed = http.post("/api/v1/definitions", headers=dora,
                                 json={"files": [{"filename": f"{name}.bpmn", "content": xml.decode()}]})
            assert deployed.status_code == 201, deployed.text
        for name in RUNAWAY:
            started: list[httpx.Response] = []
            runner = threading.Thread(target=lambda n=name, into=started: into.append(http.post(
                "/api/v1/instances", headers=dora, json={"process_key": f"runaway_{n}"})))
            runner.start()
            slowest = 0.0
            while runner.is_alive():
                for path, headers in (("/healthz", {}), ("/api/v1/tasks?view=queue", alice)):
                    began = time.monotonic()
                    answer = httpx.get(server + path, headers=headers, timeout=5)
                    slowest = max(slowest, time.monotonic() - began)
                    assert answer.status_code == 200, (name, path, answer.text)
            runner.join()
            [response] = started
            assert response.status_code == 201 and response.json()["status"] == "error", (name, response.text)
            assert "limit of the process sandbox" in response.json()["error"]["message"] or name == "recursion"
            assert slowest < 1.0, f"{name}: a request waited {slowest:.2f} s while the script ran"
        assert http.get("/healthz").status_code == 200
