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


def run(*, host: str, port: int, workers: int, with_scheduler: bool) -> None:
    # One session-signing key for every worker (each would otherwise invent its own).
    os.environ.setdefault("CAREFLOW_SECRET_KEY", secrets.token_hex(32))
    # httpx logs request URLs at INFO; WeChat's carry the app secret and access token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options: dict[str, Any] = {"bind": f"{host}:{port}", "workers": workers, "threads": 4, "accesslog": "-"}
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
