"""The scheduler process: sweeps that wake at the next due time, daily jobs, and a supervisor that keeps them alive.

The database is the source of truth. Each :class:`DueJob` asks it for the earliest thing due after the moment it last
handled ("SELECT min(due_at) … WHERE due_at > :moment", one index probe) and sleeps until then. Work that becomes due
earlier — a timer or message written by this process or, on PostgreSQL, announced by another through
``NOTIFY careflow_wakeup`` — pokes the job forward. A ``max_idle`` re-check covers writers that cannot notify
(another process on SQLite). Nothing here grows with the number of timers that are not yet due.

Why each sweep is its own loop thread and not a one-shot APScheduler job: a one-shot job that re-armed itself at the
end of a round (still running) was fired again at once when the round had overrun its interval; APScheduler refused
the second instance ("maximum number of running instances reached") and dropped the one-shot job for good — timers,
outbox and SLA breaches all stopped, silently. A loop decides its next round only after the last one ended, catches
and logs every error, and goes on; :class:`SchedulerRunner` restarts a loop whose thread died anyway, and writes a
heartbeat row per job (engine.services.scheduler_health) so that a stopped job or a killed scheduler process is seen
on the supervisor desk and /healthz.

The sweeps themselves (``fire_due_timers``, ``dispatch_due``) lock rows with ``SKIP LOCKED``, so several schedulers
against one PostgreSQL database share the work and never handle a row twice; when one is killed, the others go on.
Daily jobs (the care scans) are APScheduler cron jobs in the bank's time zone (``coalesce``, one instance; a cron job
always has a next run, so it cannot be dropped); on start-up, today's run happens if its time has passed (each is
idempotent). To add a job: a :class:`DueJob` in :func:`due_jobs`, or a :class:`DailyJob` in :func:`daily_jobs`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
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
from engine.services import retention, scheduler_health, sla
from engine.services.scheduler_health import Beat
from engine.services.timers import fire_due_timers
from engine.wakeups import CHANNEL, parse

log = logging.getLogger(__name__)

TICK = 1.0  # a waiting loop looks at the clock (and the stop flag) at least this often, in real seconds


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class DueJob:
    """A sweep run by its own loop: run ``work(moment)``, then sleep until ``next_due(moment)`` (or a poke)."""

    def __init__(self, ctx: EngineContext, job_id: str, work: Callable[[datetime], object],
                 next_due: Callable[[datetime], datetime | None], *, max_idle: float = 30.0) -> None:
        self.ctx, self.job_id = ctx, job_id
        self.work, self.next_due = work, next_due
        self.max_idle = timedelta(seconds=max_idle)
        self._cond = threading.Condition()
        self._armed_for: datetime | None = None
        self._poked: datetime | None = None
        self._running_since: datetime | None = None
        self.rounds = 0
        self.last_start: datetime | None = None
        self.last_end: datetime | None = None
        self.last_success: datetime | None = None
        self.last_error_at: datetime | None = None
        self.last_error: str | None = None

    def run(self) -> None:
        """One round. Only this job's loop calls it (or a test), so rounds never overlap: the next one is planned
        after this one ended, and an error is logged and recorded, never the end of the job."""
        moment = self.ctx.clock.now()
        with self._cond:
            self._poked = None
            self._running_since = self.last_start = moment
        upcoming: datetime | None = None
        failed = False
        try:
            try:
                self.work(moment)
            except Exception as exc:  # never let one bad round stop the wake-ups
                failed = True
                self._failed(exc)
            try:
                upcoming = self.next_due(moment)
            except Exception as exc:
                failed = True
                self._failed(exc)
            if not failed:
                self.last_success = moment
        finally:  # even a BaseException (the thread dies, the runner restarts it): plan the next round first
            with self._cond:
                candidates = [moment + self.max_idle] + [d for d in (upcoming, self._poked) if d is not None]
                self._poked = None
                self._running_since = None
                self.last_end = self.ctx.clock.now()
                self.rounds += 1
                self._arm(min(candidates))

    def _failed(self, exc: Exception) -> None:
        log.exception("scheduler job %s failed; it runs again at its next time", self.job_id)
        self.last_error_at, self.last_error = self.ctx.clock.now(), _describe(exc)

    def poke(self, due: datetime) -> None:
        """Something is due at ``due``: wake then if that is earlier than planned (after the round, if one runs)."""
        due = as_utc(due)
        with self._cond:
            self._poked = due if self._poked is None else min(self._poked, due)
            if self._running_since is None and (self._armed_for is None or due < self._armed_for):
                self._arm(due)

    def wake(self) -> None:
        """Make a waiting loop look at the clock now (a test moved its clock; the runner stops)."""
        with self._cond:
            self._cond.notify_all()

    @property
    def armed_for(self) -> datetime | None:
        return self._armed_for

    @property
    def running_since(self) -> datetime | None:
        return self._running_since

    def _arm(self, at: datetime) -> None:  # with self._cond held
        self._armed_for = max(at, self.ctx.clock.now())
        self._cond.notify_all()

    def serve(self, stop: threading.Event) -> None:
        """The job's loop: wait until it is due, run a round, again, until ``stop`` is set."""
        while not stop.is_set():
            with self._cond:
                while not stop.is_set():
                    if self._armed_for is not None:
                        wait = (self._armed_for - self.ctx.clock.now()).total_seconds()
                        if wait <= 0:
                            break
                    else:
                        wait = TICK
                    self._cond.wait(min(wait, TICK))
            if stop.is_set():
                return
            self.run()

    def beat(self, now: datetime, *, alive: bool = True) -> Beat:
        """This job's heartbeat: healthy now, unless a round hangs (then: its start) or its loop is gone."""
        running = self._running_since
        alive_at = running if running is not None else (now if alive else (self.last_end or now))
        return Beat(self.job_id, alive_at, self.last_start, self.last_success, self.last_error_at, self.last_error,
                    running or self._armed_for)


class CronJob:
    """A daily job's body on APScheduler: errors logged and recorded for its heartbeat, never raised."""

    def __init__(self, ctx: EngineContext, job_id: str, work: Callable[[], object]) -> None:
        self.ctx, self.job_id, self.work = ctx, job_id, work
        self.running_since: datetime | None = None
        self.last_start: datetime | None = None
        self.last_success: datetime | None = None
        self.last_error_at: datetime | None = None
        self.last_error: str | None = None

    def run(self) -> None:
        moment = self.ctx.clock.now()
        self.running_since = self.last_start = moment
        try:
            self.work()
            self.last_success = moment
        except Exception as exc:
            log.exception("scheduler job %s failed; it runs again at its next time", self.job_id)
            self.last_error_at, self.last_error = self.ctx.clock.now(), _describe(exc)
        finally:
            self.running_since = None

    def beat(self, now: datetime, next_due: datetime | None, *, alive: bool = True) -> Beat:
        alive_at = self.running_since or (now if alive else (self.last_start or now))
        return Beat(self.job_id, alive_at, self.last_start, self.last_success, self.last_error_at, self.last_error,
                    next_due)


@dataclass(frozen=True)
class DailyJob:
    """A job run once a day at ``at`` (bank-local "HH:MM"), caught up at start-up if today's time has passed."""

    job_id: str
    at: str
    work: Callable[[], object]


def next_timer_due(ctx: EngineContext, after: datetime) -> datetime | None:
    with unit_of_work(ctx.sessions, write=False) as session:
        due = session.scalar(select(func.min(Timer.due_at)).where(
            Timer.status == TimerStatus.PENDING.value, Timer.due_at > after))
    return as_utc(due) if due is not None else None


def due_jobs(ctx: EngineContext, max_idle: float) -> dict[str, DueJob]:
    """The sweeps, by the wake-up kind that pokes them ("timer" pokes "timers")."""
    return {
        "timers": DueJob(ctx, "timers.sweep", lambda now: fire_due_timers(ctx, now=now),
                         lambda after: next_timer_due(ctx, after), max_idle=max_idle),
        "outbox": DueJob(ctx, "outbox.dispatch", lambda now: dispatch_due(ctx, now=now),
                         lambda after: next_outbox_due(ctx, after), max_idle=max_idle),
        "sla": DueJob(ctx, "sla.breaches", lambda now: sla.sweep_breaches(ctx, now=now),
                      lambda after: sla.next_due(ctx, after), max_idle=max(max_idle, 30.0)),
    }


def daily_jobs(ctx: EngineContext) -> list[DailyJob]:
    """The features' daily jobs (``ctx.register_daily_job``: the care scans, engine.care.jobs), then the engine's."""
    return [
        *(DailyJob(job_id, at, work) for job_id, at, work in ctx.daily_jobs),
        # The keyed audit chain, verified every night (engine.audit_check): a break is an error and an audit event.
        DailyJob("audit.daily_check", "02:30", lambda: daily_check(ctx)),
        DailyJob("retention.daily", "03:00", lambda: retention.run(ctx)),
    ]


def install_jobs(scheduler: BaseScheduler, ctx: EngineContext, *, max_idle: float | None = None,
                 care_scans: bool = True, stop: threading.Event | None = None) -> dict[str, DueJob]:
    """Make the sweeps (armed now, so overdue work is caught up at once; :class:`SchedulerRunner` runs their loops),
    wire their wake-ups, and add the daily jobs to ``scheduler``.

    ``max_idle`` defaults to 1 s on SQLite, where web workers in other processes cannot notify the
    scheduler (the re-check is one index probe), and 30 s on PostgreSQL, where NOTIFY wakes it.
    """
    if max_idle is None:
        max_idle = 1.0 if ctx.settings.is_sqlite else 30.0
    jobs = due_jobs(ctx, max_idle)

    def on_wakeup(kind: str, due: datetime) -> None:
        job = jobs.get("timers" if kind == "timer" else kind)
        if job is not None:
            job.poke(due)

    ctx.wakeup_listeners.append(on_wakeup)
    for job in jobs.values():
        job.poke(ctx.clock.now())
    if care_scans:
        for daily in daily_jobs(ctx):
            add_daily_job(scheduler, ctx, daily)
    if not ctx.settings.is_sqlite:
        threading.Thread(target=listen_for_wakeups, args=(ctx, on_wakeup, stop), daemon=True,
                         name="careflow-wakeup-listener").start()
    return jobs


def add_daily_job(scheduler: BaseScheduler, ctx: EngineContext, daily: DailyJob) -> CronJob:
    hours, minutes = (int(part) for part in daily.at.split(":"))
    trigger = CronTrigger(hour=hours, minute=minutes, timezone=ctx.settings.zone)
    job = CronJob(ctx, daily.job_id, daily.work)
    scheduler.add_job(job.run, trigger, id=daily.job_id, replace_existing=True,
                      max_instances=1, coalesce=True, misfire_grace_time=3600)
    local = ctx.clock.now().astimezone(ctx.settings.zone)
    if (local.hour, local.minute) >= (hours, minutes):  # started after today's time: catch up today
        scheduler.add_job(job.run, "date", run_date=ctx.clock.now(), id=f"{daily.job_id}.catch_up",
                          replace_existing=True, misfire_grace_time=None)
    return job


def default_node() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


class SchedulerRunner:
    """Runs the sweeps' loops and the daily jobs, and keeps them alive: :meth:`supervise` restarts a loop whose
    thread died, writes this process's heartbeat rows and logs an error for any job stopped everywhere."""

    def __init__(self, ctx: EngineContext, scheduler: BaseScheduler, *, max_idle: float | None = None,
                 care_scans: bool = True, node: str | None = None) -> None:
        self.ctx, self.scheduler = ctx, scheduler
        self.node = node or default_node()
        self.stopping = threading.Event()
        listeners_before = len(ctx.wakeup_listeners)
        self.jobs = install_jobs(scheduler, ctx, max_idle=max_idle, care_scans=care_scans, stop=self.stopping)
        self._listeners = ctx.wakeup_listeners[listeners_before:]
        self.threads: dict[str, threading.Thread] = {}
        self.restarts = 0
        self._pruned_at: datetime | None = None

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()
        for name in self.jobs:
            if name not in self.threads:
                self._start_loop(name)

    def _start_loop(self, name: str) -> None:
        thread = threading.Thread(target=self._loop, args=(self.jobs[name],), daemon=True,
                                  name=f"careflow-{self.jobs[name].job_id}")
        self.threads[name] = thread
        thread.start()

    def _loop(self, job: DueJob) -> None:
        try:
            job.serve(self.stopping)
        except BaseException:  # past the rounds' own guard (an interpreter-level failure): supervise() restarts it
            log.critical("scheduler loop %s stopped on an unexpected error", job.job_id, exc_info=True)

    def supervise(self) -> None:
        """One supervision pass (every ``scheduler_heartbeat_seconds``); each part survives the others' errors."""
        now = self.ctx.clock.now()
        for name, thread in list(self.threads.items()):
            if not thread.is_alive() and not self.stopping.is_set():
                log.error("scheduler loop %s died; restarting it", self.jobs[name].job_id)
                self.restarts += 1
                self._start_loop(name)
        try:
            scheduler_health.record(self.ctx, self.node, self.beats(now))
        except Exception:
            log.exception("could not write the scheduler heartbeats (the jobs go on)")
        try:
            scheduler_health.health(self.ctx, now)  # logs an error for what is stale, here or in another process
            if self._pruned_at is None or now - self._pruned_at > timedelta(hours=1):
                scheduler_health.prune(self.ctx, now)
                self._pruned_at = now
        except Exception:
            log.exception("could not read the scheduler heartbeats")

    def beats(self, now: datetime) -> list[Beat]:
        beats = [job.beat(now, alive=name not in self.threads or self.threads[name].is_alive())
                 for name, job in self.jobs.items()]
        crons: dict[str, tuple[CronJob, datetime | None]] = {}
        for aps_job in self.scheduler.get_jobs():
            owner = getattr(aps_job.func, "__self__", None)
            if isinstance(owner, CronJob):
                planned = getattr(aps_job, "next_run_time", None)
                _, known = crons.get(owner.job_id, (owner, None))
                crons[owner.job_id] = (owner, min((d for d in (known, planned) if d is not None), default=None))
        alive = bool(self.scheduler.running)
        beats += [cron.beat(now, due, alive=alive) for cron, due in crons.values()]
        return beats

    def serve_forever(self) -> None:
        """``careflow scheduler``: start, then supervise until stopped (Ctrl+C or SIGTERM)."""
        self.start()
        self.supervise()
        while not self.stopping.wait(self.ctx.settings.scheduler.heartbeat_seconds):
            try:
                self.supervise()
            except Exception:  # supervise catches its parts' errors; this is the last guard of the process
                log.exception("scheduler supervision failed; going on")

    def stop(self, *, forget: bool = True) -> None:
        """Stop the loops and the daily jobs; a clean stop removes this process's heartbeat rows."""
        self.stopping.set()
        for job in self.jobs.values():
            job.wake()
        for thread in self.threads.values():
            thread.join(timeout=30)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for listener in self._listeners:
            if listener in self.ctx.wakeup_listeners:
                self.ctx.wakeup_listeners.remove(listener)
        if forget:
            try:
                scheduler_health.forget(self.ctx, self.node)
            except Exception:
                log.exception("could not remove the scheduler heartbeats")


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
