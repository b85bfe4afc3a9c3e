"""What operations watch: the engine's state in numbers (for ``/metrics``) and whether a node may take traffic
(for ``/readyz``).

Every figure is read from the database at the moment it is asked for, so any node answers for the whole cluster
and a restarted node has nothing to rebuild. The queries are counts over indexed columns
(``ix_process_instance_status_started``, ``ix_human_task_status_created``, ``ix_timer_status_due``, the outbox's
status index): a scrape stays cheap as the tables grow. Per-request figures (latency by route) are the web layer's.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from engine.context import EngineContext
from engine.db import migrate
from engine.db.models import HumanTask, HumanTaskStatus, InstanceStatus, ProcessInstance, Timer, TimerStatus
from engine.outbox.models import OutboxMessage, OutboxStatus
from engine.services import scheduler_health

LIVE_TASK_STATES = (HumanTaskStatus.OPEN, HumanTaskStatus.CLAIMED)
LIVE_INSTANCE_STATES = (InstanceStatus.RUNNING, InstanceStatus.ERROR)
ENDED_INSTANCE_STATES = (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)
# Ended instances only grow, and counting a million of them takes most of a second: each process counts them again
# at most this often; live ones (running, error) are counted at every scrape.
ENDED_RECOUNT = timedelta(seconds=60)
_ended: dict[int, tuple[datetime, dict[str, int]]] = {}  # by id(context), dropped with the context
_ended_lock = threading.Lock()
OUTBOX_STATES = (OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.DEAD)


@dataclass(frozen=True)
class EngineFigures:
    """One reading of the engine's state."""

    instances: dict[str, int]  # by status; every status present, 0 when none
    live_tasks: dict[str, int]  # open and claimed human tasks
    timers_pending: int
    timer_lag_seconds: float  # how late the oldest due, unfired timer is (0 when none is due)
    outbox: dict[str, int]  # pending, sending, dead (dead letters)
    outbox_oldest_due_seconds: float  # how long the oldest pending message has been due (0: none)
    heartbeat_age_seconds: dict[str, float]  # per scheduler job: seconds since its freshest heartbeat
    stale_jobs: tuple[str, ...] = field(default=())

    @property
    def incidents(self) -> int:
        """Instances a step failed on (status ``error``), waiting for a person to retry or end them."""
        return self.instances.get(InstanceStatus.ERROR.value, 0)


def figures(ctx: EngineContext) -> EngineFigures:
    now = ctx.clock.now()
    with ctx.db.connect() as conn:
        instances = {**dict.fromkeys((status.value for status in InstanceStatus), 0),
                     **_counts(conn, ProcessInstance.status, LIVE_INSTANCE_STATES), **_ended_counts(ctx, conn, now)}
        tasks = _counts(conn, HumanTask.status, LIVE_TASK_STATES)
        timers_pending, oldest_due = conn.execute(
            select(func.count(), func.min(Timer.due_at)).where(Timer.status == TimerStatus.PENDING)).one()
        outbox = _counts(conn, OutboxMessage.status, OUTBOX_STATES)
        oldest_message = conn.execute(select(func.min(OutboxMessage.next_attempt_at))
                                      .where(OutboxMessage.status == OutboxStatus.PENDING)).scalar()
    health = scheduler_health.health(ctx)
    return EngineFigures(
        instances=instances, live_tasks=tasks, timers_pending=timers_pending or 0,
        timer_lag_seconds=_late(now, oldest_due), outbox=outbox,
        outbox_oldest_due_seconds=_late(now, oldest_message),
        heartbeat_age_seconds={job.job: max(0.0, (now - _aware(job.beat_at, now)).total_seconds())
                               for job in health.jobs},
        stale_jobs=tuple(job.job for job in health.stale_jobs),
    )


def _counts(conn: Connection, column: Any, states: tuple[str, ...]) -> dict[str, int]:
    """Rows per state, for the given states only (each present, 0 when none): an index range per state."""
    found = dict.fromkeys((str(state) for state in states), 0)
    for status, count in conn.execute(select(column, func.count()).where(column.in_(states)).group_by(column)):
        found[str(status)] = count
    return found


def _ended_counts(ctx: EngineContext, conn: Connection, now: datetime) -> dict[str, int]:
    with _ended_lock:
        kept = _ended.get(id(ctx))
    if kept is not None and now - kept[0] < ENDED_RECOUNT:
        return kept[1]
    counts = _counts(conn, ProcessInstance.status, ENDED_INSTANCE_STATES)
    with _ended_lock:
        if id(ctx) not in _ended:
            weakref.finalize(ctx, _ended.pop, id(ctx), None)
        _ended[id(ctx)] = (now, counts)
    return counts


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite gives naive UTC datetimes back; compare them as UTC."""
    return moment.replace(tzinfo=like.tzinfo) if moment.tzinfo is None else moment


def _late(now: datetime, due: datetime | None) -> float:
    if due is None:
        return 0.0
    return max(0.0, (now - _aware(due, now)).total_seconds())


@dataclass(frozen=True)
class Readiness:
    """May this node take traffic? ``checks`` names each check and ``"ok"`` or what is wrong."""

    ready: bool
    checks: dict[str, str]


def readiness(ctx: EngineContext) -> Readiness:
    """The database answers, its schema is at this code's migration head (a node of a newer version waits for
    ``careflow db upgrade``; an older one keeps running on a schema it knows — see the upgrade notes), and the
    scheduler's jobs beat. A scheduler that never wrote a heartbeat counts as not ready: a cluster without one
    fires no timers."""
    checks: dict[str, str] = {}
    try:
        with ctx.db.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the answer, not an error
        checks["database"] = f"unreachable: {type(exc).__name__}"
        return Readiness(False, checks)
    current, wanted = migrate.current(ctx.db), migrate.code_heads()
    checks["migrations"] = "ok" if current in wanted else f"database at {current or 'none'}, code needs " \
                                                           f"{', '.join(sorted(wanted))}"
    health = scheduler_health.health(ctx)
    if health.status == "ok":
        checks["scheduler"] = "ok"
    elif health.status == "unknown":
        checks["scheduler"] = "no scheduler has written a heartbeat"
    else:
        checks["scheduler"] = "stopped jobs: " + ", ".join(job.job for job in health.stale_jobs)
    return Readiness(all(value == "ok" for value in checks.values()), checks)
