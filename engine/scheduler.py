"""APScheduler wiring: wake at the next due time, not on a coarse poll.

The database is the source of truth. Each :class:`DueJob` asks it for the earliest thing due after
the moment it last handled ("SELECT min(due_at) … WHERE due_at > :moment", one index probe), arms a
one-shot APScheduler job for exactly then, and re-arms after every run. Work that becomes due
earlier — a timer or message written by this process or, on PostgreSQL, announced by another
through ``NOTIFY careflow_wakeup`` — pokes the job forward. A ``max_idle`` re-check covers writers
that cannot notify (another process on SQLite). Nothing here grows with the number of timers that
are not yet due.

The sweeps themselves (``fire_due_timers``, ``dispatch_due``) lock rows with ``SKIP LOCKED``, so
several schedulers against one PostgreSQL database share the work and never handle a row twice.
The daily care scans run as cron jobs in the bank's time zone; on start-up, today's scans run if
their time has passed (each is idempotent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select

from engine.audit_check import daily_check
from engine.clock import as_utc
from engine.context import EngineContext
from engine.db.models import Timer, TimerStatus
from engine.db.session import unit_of_work
from engine.outbox.dispatch import dispatch_due
from engine.outbox.dispatch import next_due as next_outbox_due
from engine.services import sla
from engine.services.timers import fire_due_timers
from engine.wakeups import CHANNEL, parse

log = logging.getLogger(__name__)


class DueJob:
    """A self-re-arming one-shot job: run ``work(moment)``, then sleep until ``next_due(moment)``."""

    def __init__(self, scheduler: BaseScheduler, ctx: EngineContext, job_id: str,
                 work: Callable[[datetime], object], next_due: Callable[[datetime], datetime | None],
                 *, max_idle: float = 30.0) -> None:
        self.scheduler, self.ctx, self.job_id = scheduler, ctx, job_id
        self.work, self.next_due = work, next_due
        self.max_idle = timedelta(seconds=max_idle)
        self._lock = threading.Lock()
        self._armed_for: datetime | None = None
        self._poked: datetime | None = None

    def run(self) -> None:
        moment = self.ctx.clock.now()
        with self._lock:
            self._poked = None
        try:
            self.work(moment)
        except Exception:  # never let one bad round stop the wake-ups
            log.exception("%s failed", self.job_id)
        upcoming = self.next_due(moment)
        with self._lock:
            candidates = [moment + self.max_idle] + [d for d in (upcoming, self._poked) if d is not None]
            self._poked = None
            self._arm(min(candidates))

    def poke(self, due: datetime) -> None:
        """Something is due at ``due``: wake then if that is earlier than planned."""
        due = as_utc(due)
        with self._lock:
            self._poked = due if self._poked is None else min(self._poked, due)
            if self._armed_for is None or due < self._armed_for:
                self._arm(due)

    @property
    def armed_for(self) -> datetime | None:
        return self._armed_for

    def _arm(self, at: datetime) -> None:
        at = max(at, self.ctx.clock.now())
        self._armed_for = at
        self.scheduler.add_job(self.run, "date", run_date=at, id=self.job_id, replace_existing=True,
                               max_instances=1, misfire_grace_time=None)


def next_timer_due(ctx: EngineContext, after: datetime) -> datetime | None:
    with unit_of_work(ctx.sessions, write=False) as session:
        due = session.scalar(select(func.min(Timer.due_at)).where(
            Timer.status == TimerStatus.PENDING.value, Timer.due_at > after))
    return as_utc(due) if due is not None else None


def install_jobs(scheduler: BaseScheduler, ctx: EngineContext, *, max_idle: float | None = None,
                 care_scans: bool = True) -> dict[str, DueJob]:
    """Add the timer and outbox jobs (armed now, so overdue work is caught up at once) and the care scans.

    ``max_idle`` defaults to 1 s on SQLite, where web workers in other processes cannot notify the
    scheduler (the re-check is one index probe), and 30 s on PostgreSQL, where NOTIFY wakes it.
    """
    if max_idle is None:
        max_idle = 1.0 if ctx.settings.is_sqlite else 30.0
    jobs = {
        "timers": DueJob(scheduler, ctx, "timers.sweep", lambda now: fire_due_timers(ctx, now=now),
                         lambda after: next_timer_due(ctx, after), max_idle=max_idle),
        "outbox": DueJob(scheduler, ctx, "outbox.dispatch", lambda now: dispatch_due(ctx, now=now),
                         lambda after: next_outbox_due(ctx, after), max_idle=max_idle),
        "sla": DueJob(scheduler, ctx, "sla.breaches", lambda now: sla.sweep_breaches(ctx, now=now),
                      lambda after: sla.next_due(ctx, after), max_idle=max(max_idle, 30.0)),
    }

    def on_wakeup(kind: str, due: datetime) -> None:
        job = jobs.get("timers" if kind == "timer" else kind)
        if job is not None:
            job.poke(due)

    ctx.wakeup_listeners.append(on_wakeup)
    for job in jobs.values():
        job.poke(ctx.clock.now())
    if care_scans:
        _install_care_scans(scheduler, ctx)
    # The keyed audit chain, verified every night (engine.audit_check): a break is an error and an audit event.
    scheduler.add_job(lambda: daily_check(ctx), CronTrigger(hour=2, minute=30, timezone=ctx.settings.zone),
                      id="audit.daily_check", replace_existing=True, max_instances=1, coalesce=True,
                      misfire_grace_time=3600)
    if not ctx.settings.is_sqlite:
        threading.Thread(target=listen_for_wakeups, args=(ctx, on_wakeup), daemon=True,
                         name="careflow-wakeup-listener").start()
    return jobs


def _install_care_scans(scheduler: BaseScheduler, ctx: EngineContext) -> None:
    from engine.care.scans import run_daily_scans

    hours, minutes = (int(part) for part in ctx.settings.care_scan_time.split(":"))
    trigger = CronTrigger(hour=hours, minute=minutes, timezone=ctx.settings.zone)
    scheduler.add_job(lambda: run_daily_scans(ctx), trigger, id="care.scans", replace_existing=True,
                      max_instances=1, coalesce=True, misfire_grace_time=3600)
    local = ctx.clock.now().astimezone(ctx.settings.zone)
    if (local.hour, local.minute) >= (hours, minutes):  # started after today's scan time: catch up today
        scheduler.add_job(lambda: run_daily_scans(ctx), "date", run_date=ctx.clock.now(), id="care.scans.catch_up",
                          replace_existing=True)


def listen_for_wakeups(ctx: EngineContext, on_wakeup: Callable[[str, datetime], None],
                       stop: threading.Event | None = None) -> None:
    """PostgreSQL only: LISTEN on the wake-up channel and poke the jobs; reconnect on failure."""
    import psycopg

    url = ctx.db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        parsed = parse(note.payload)
                        if parsed is not None:
                            on_wakeup(*parsed)
        except Exception:  # the database went away: the max_idle re-check covers the gap
            log.warning("wake-up listener lost its connection; reconnecting", exc_info=True)
            stop.wait(5.0)

