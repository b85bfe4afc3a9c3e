"""APScheduler wiring only: jobs that call the engine's sweep functions.

The database is the source of truth for timers; APScheduler only decides when to
sweep. Run exactly one scheduler per deployment for now (``careflow scheduler``, or the
thread inside ``careflow serve --with-scheduler``); the sweep itself is safe with
several (SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler

from engine.context import EngineContext
from engine.services.timers import fire_due_timers

log = logging.getLogger(__name__)


def sweep_timers(ctx: EngineContext) -> None:
    result = fire_due_timers(ctx)
    if result.fired or result.failed:
        log.info("timers: %d instances woken, %d failed", result.fired, result.failed)


def install_jobs(scheduler: BaseScheduler, ctx: EngineContext, *, interval_seconds: float = 1.0) -> None:
    scheduler.add_job(sweep_timers, "interval", seconds=interval_seconds, args=[ctx], id="timers.sweep",
                      max_instances=1, coalesce=True, replace_existing=True)
