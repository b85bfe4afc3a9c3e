"""Running the app under granian (a production HTTP server in Rust, serving the WSGI app), optionally with
the scheduler beside it as a child process."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from granian.constants import Interfaces
from granian.server import Server

from web import logsafe

ROOT = Path(__file__).resolve().parent.parent
# Method, path, status and duration; never the query string, which may carry a customer's search text. Each line is
# escaped (web.logsafe): a path cannot end the line or write bytes that are not UTF-8.
ACCESS_FORMAT = '[%(time)s] %(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'


def default_workers() -> int:
    """One worker process per core, at least two. A request here is Python work and local database I/O:
    ``bench/http.py`` on 2 cores measured more processes only adding colder caches."""
    return max(2, os.cpu_count() or 1)


def scheduler_command() -> list[str]:
    return [sys.executable, "-c", "from web.cli import run; run()", "scheduler"]


def metrics_folder(instance_dir: Path) -> Path:
    """Where the workers write their request figures for /metrics (prometheus-client's multi-process mode): a fresh
    folder per server start, so a restarted server does not add up a previous run's counters. An operator's own
    ``PROMETHEUS_MULTIPROC_DIR`` wins (it must then be emptied at each start, as prometheus-client says)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder = instance_dir / "metrics" / str(os.getpid())
    if folder.parent.exists():
        for old in folder.parent.iterdir():  # earlier starts' folders; another server's on this machine stays
            if not (old.name.isdigit() and _alive(int(old.name))):
                shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)  # the workers inherit it before they import the app
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(*, host: str, port: int, workers: int, threads: int = 1, with_scheduler: bool,
        instance_dir: Path | None = None, json_logs: bool = False) -> None:
    """Serve until interrupted. HTTP (keep-alive, slow clients, parsing) is handled by granian's Rust runtime in
    each worker process; ``threads`` Python threads per worker run the app (1: one request at a time per worker,
    the fastest per request on this workload; more help when requests wait on a remote database)."""
    # Every worker signs cookies with the same key: CAREFLOW_SECRET_KEY, else the one kept in the instance folder
    # (engine.config.secret_from_file), never one made up at start.
    # httpx logs request URLs at INFO; WeChat's carry the app secret and access token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if instance_dir is not None:
        metrics_folder(instance_dir)
    server = Server(
        "wsgi:app", address=host, port=port, interface=Interfaces.WSGI, workers=workers, blocking_threads=threads,
        log_access=True, log_access_format=ACCESS_FORMAT, log_dictconfig=logsafe.log_config(json_logs), working_dir=ROOT,
        respawn_failed_workers=True,
    )
    # The scheduler is its own process (as ``careflow scheduler`` in production): the server's workers are forked
    # from this one and must not inherit a scheduler's threads or database connections.
    scheduler = subprocess.Popen(scheduler_command(), cwd=ROOT) if with_scheduler else None
    try:
        server.serve()
    finally:
        if scheduler is not None:
            scheduler.terminate()
            try:
                scheduler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                scheduler.kill()
