"""Is the scheduler alive? Heartbeat rows written by each scheduler process, read by the web (desk, /healthz).

A scheduler process (``careflow scheduler``) writes one row per job every ``scheduler_heartbeat_seconds``
(:func:`record`). A job is *stale* when none of its rows, from any scheduler process, was written within
``scheduler_stale_seconds``: every scheduler running it was killed, hangs in a round, or lost its thread. Another
process's rows going stale while the job stays fresh means that process died and the others took its work over
(the sweeps lock rows with SKIP LOCKED): reported as a stale node, not as a stopped job.

Reading is one small query over a table of (jobs × scheduler processes) rows; the supervisor desk and /healthz ask on
every visit. Each finding is logged as an error at most once per stale period per process, so a load balancer
polling /healthz does not flood the log.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from engine.context import EngineContext
from engine.db.scheduling import SchedulerHeartbeat
from engine.db.session import unit_of_work

log = logging.getLogger(__name__)

ERROR_TEXT_MAX = 2000


@dataclass(frozen=True)
class Beat:
    """What a scheduler process knows about one of its jobs right now (engine.scheduler builds these)."""

    job: str
    alive_at: datetime  # now when it waits or runs normally; the start of a round that hangs
    last_start: datetime | None
    last_success: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    next_due: datetime | None


@dataclass(frozen=True)
class JobHealth:
    """One job over all scheduler processes: its freshest row, and whether any row is fresh."""

    job: str
    node: str
    beat_at: datetime
    last_start: datetime | None
    last_success: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    next_due: datetime | None
    stale: bool


@dataclass(frozen=True)
class SchedulerHealth:
    jobs: tuple[JobHealth, ...]
    stale_nodes: tuple[str, ...]  # scheduler processes with a stale row (killed, hung), even if others took over

    @property
    def status(self) -> str:
        """"unknown" (no scheduler ever wrote here), "degraded" (a job stopped everywhere) or "ok"."""
        if not self.jobs:
            return "unknown"
        return "degraded" if self.stale_jobs else "ok"

    @property
    def stale_jobs(self) -> tuple[JobHealth, ...]:
        return tuple(job for job in self.jobs if job.stale)


def record(ctx: EngineContext, node: str, beats: Iterable[Beat]) -> None:
    """Write this process's rows (one transaction; each process writes only its own rows, so nobody waits)."""
    with unit_of_work(ctx.sessions) as session:
        rows = {row.job: row for row in session.scalars(
            select(SchedulerHeartbeat).where(SchedulerHeartbeat.node == node))}
        for beat in beats:
            row = rows.get(beat.job)
            if row is None:
                row = SchedulerHeartbeat(job=beat.job, node=node)
                session.add(row)
            row.beat_at = beat.alive_at
            row.last_start_at, row.last_success_at = beat.last_start, beat.last_success
            row.last_error_at = beat.last_error_at
            row.last_error = beat.last_error[:ERROR_TEXT_MAX] if beat.last_error else None
            row.next_due_at = beat.next_due


def forget(ctx: EngineContext, node: str) -> None:
    """A scheduler that stops cleanly removes its rows: a planned stop is not a failure."""
    with unit_of_work(ctx.sessions) as session:
        session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.node == node))


def health(ctx: EngineContext, now: datetime | None = None) -> SchedulerHealth:
    """Every job's freshest row and the stale processes; logs an error for what is stale (rate-limited)."""
    now = now or ctx.clock.now()
    limit = now - timedelta(seconds=ctx.settings.scheduler.stale_seconds)
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(select(SchedulerHeartbeat).order_by(SchedulerHeartbeat.job)).all()
    freshest: dict[str, SchedulerHeartbeat] = {}
    for row in rows:
        if row.job not in freshest or row.beat_at > freshest[row.job].beat_at:
            freshest[row.job] = row
    jobs = tuple(JobHealth(row.job, row.node, row.beat_at, row.last_start_at, row.last_success_at, row.last_error_at,
                           row.last_error, row.next_due_at, row.beat_at < limit) for row in freshest.values())
    stale_nodes = tuple(sorted({row.node for row in rows if row.beat_at < limit}))
    result = SchedulerHealth(jobs, stale_nodes)
    _log_findings(ctx, result, now)
    return result


# What each engine context (one per process, one per test) logged when: keyed by its session factory.
_logged: weakref.WeakKeyDictionary[object, dict[str, datetime]] = weakref.WeakKeyDictionary()
_logged_lock = threading.Lock()


def _log_findings(ctx: EngineContext, result: SchedulerHealth, now: datetime) -> None:
    every = timedelta(seconds=ctx.settings.scheduler.stale_seconds)
    findings: list[tuple[str, JobHealth | None]] = [(f"job:{job.job}", job) for job in result.stale_jobs]
    findings += [(f"node:{node}", None) for node in result.stale_nodes]
    for key, job in findings:
        with _logged_lock:
            logged = _logged.setdefault(ctx.sessions, {})
            if key in logged and now - logged[key] < every:
                continue
            logged[key] = now
        if job is not None:
            log.error("scheduler job %s has stopped: no heartbeat since %s (last success %s, last error %s); check "
                      "the careflow scheduler processes", job.job, job.beat_at.isoformat(),
                      job.last_success.isoformat() if job.last_success else "never", job.last_error or "none")
        else:
            log.error("scheduler process %s stopped sending heartbeats (killed or hung)%s", key[5:],
                      "" if result.status != "ok" else "; its jobs run on in the other scheduler processes")


def prune(ctx: EngineContext, now: datetime, *, keep: timedelta = timedelta(days=1)) -> int:
    """Remove the rows of processes silent for longer than ``keep`` (a killed scheduler is reported for a day)."""
    with unit_of_work(ctx.sessions) as session:
        result = session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.beat_at < now - keep))
    return int(getattr(result, "rowcount", 0) or 0)
