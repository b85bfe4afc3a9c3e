"""``careflow serve`` as a real subprocess for the tests that need the server as deployed (workers, scheduler, kill -9):
start it on a free port, wait until /healthz answers, kill it with its workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import TEST_DATA_KEY

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a served node: the test database and data key, unbuffered output, no inherited metrics dir."""
    env = {**os.environ, "DATABASE_URL": database_url, "CAREFLOW_DATA_KEY": TEST_DATA_KEY, "PYTHONUNBUFFERED": "1",
           **extra}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def start_serve(port: int, env: dict[str, str], log: Path, *options: str,
                timeout: float = 60) -> subprocess.Popen[bytes]:
    """``careflow serve --port PORT OPTIONS`` in its own process group, its output appended to ``log``; returns once
    /healthz answers 200 (fails the test if the server exits or does not answer within ``timeout`` seconds)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from web.cli import run; run()", "serve", "--port", str(port), *options],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"no answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def kill_serve(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's whole process group (its workers and scheduler too) and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
