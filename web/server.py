"""Running the app under gunicorn, optionally with the scheduler thread in the master process."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from gunicorn.app.base import BaseApplication

from engine.config import Settings
from engine.context import build_engine
from web import create_app


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app()


def default_workers() -> int:
    """One synchronous worker per core, at least two. A request here is Python work and local database
    I/O, not waiting on slow clients: ``bench/http.py`` on 2 cores measured 2 workers ahead of gunicorn's
    usual 2 × cores + 1 (more processes mean colder per-process caches and SQLite page caches)."""
    return max(2, os.cpu_count() or 1)


def run(*, host: str, port: int, workers: int, threads: int = 1, with_scheduler: bool) -> None:
    """Serve under gunicorn. ``threads == 1``: synchronous workers, one request at a time each (the fastest per
    request, measured in ``bench/http.py``; run behind the bank's reverse proxy, which buffers slow clients and
    keeps connections alive). ``threads > 1``: threaded workers, for serving clients directly."""
    # One session-signing key for every worker (each would otherwise invent its own).
    os.environ.setdefault("CAREFLOW_SECRET_KEY", secrets.token_hex(32))
    # httpx logs request URLs at INFO; WeChat's carry the app secret and access token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options: dict[str, Any] = {"bind": f"{host}:{port}", "workers": workers, "threads": threads, "accesslog": "-",
                               "worker_class": "sync" if threads == 1 else "gthread"}
    if with_scheduler:
        def when_ready(_server: Any) -> None:
            # In the master only: forked workers never run sweeps.
            from apscheduler.schedulers.background import BackgroundScheduler

            from engine.scheduler import install_jobs

            scheduler = BackgroundScheduler(timezone="UTC")
            install_jobs(scheduler, build_engine(Settings.from_env()))
            scheduler.start()

        options["when_ready"] = when_ready
    _Server(options).run()
