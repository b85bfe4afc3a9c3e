"""Waves: a large care scan (birthdays, holidays, revisits due) split into chunks that ``careflow worker`` processes
take from a PostgreSQL job queue, on any number of machines (docs/decisions.md, "Waves on procrastinate").

The coordinator (the daily scan job, or ``careflow wave run``) cuts the scan's customers into keyset ranges of
``settings.waves.chunk_size`` ids once, stores them as ``wave_chunk`` rows and defers one procrastinate job per chunk
(queueing lock ``wave_chunk:<id>``: a chunk is never queued twice). A worker runs a chunk with the scan's own
per-customer code (:mod:`engine.care.scans` with a :class:`~engine.care.scans.Span`): every batch commits its
instances together with the chunk's counts and cursor, so a chunk taken again after a kill goes on after its last
committed batch, and the business keys make sure nothing starts twice anyway. The worker that finishes a wave's
last chunk closes its ``care_scan_run`` row with the counts. A worker killed with -9 stops beating; after
``settings.waves.stalled_seconds`` any other worker queues its chunk again (procrastinate's stalled jobs).

SQLite has no queue, and ``settings.waves.backend`` ``inline`` (or ``auto`` with no worker alive) keeps the scans
in the scheduler's process as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, text, update
from sqlalchemy.orm import Session

from engine.care.models import CareScanRun, WaveChunk
from engine.context import EngineContext
from engine.customers.models import Customer, CustomerStatus
from engine.db.session import unit_of_work

log = logging.getLogger(__name__)

QUEUE = "waves"
TASK = "careflow.wave_chunk"
CHUNK_STATES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class Span:
    """A wave chunk's share of a scan: customers with ids in (``lo``, ``hi``] (None: open), and ``progress`` called in
    each batch's write transaction with (session, last customer id of the batch, started, skipped)."""

    lo: str | None = None
    hi: str | None = None
    progress: Callable[[Session, str, int, int], None] | None = None


Scan = Callable[[EngineContext, date, Span | None], tuple[int, int]]
Scans = Mapping[str, Scan]  # job → scan (engine.care.scans.WAVE_SCANS)


@dataclass(frozen=True)
class WaveStatus:
    """One wave as the supervisor desk and /metrics show it."""

    job: str
    day: date
    status: str  # care_scan_run.status: running | done | failed
    chunks: dict[str, int]  # state → chunks
    started: int
    skipped: int
    started_at: datetime
    finished_at: datetime | None

    @property
    def total(self) -> int:
        return sum(self.chunks.values())


# --- the coordinator -------------------------------------------------------------------------------------------------


def use_queue(ctx: EngineContext) -> bool:
    """Whether the scans go to the queue: never on SQLite or ``inline``; always with ``queue``; with ``auto`` while a
    worker has beaten within ``stalled_seconds`` (else nobody would take the chunks: the scheduler runs them)."""
    backend = ctx.settings.waves.backend
    if ctx.settings.is_sqlite or backend == "inline":
        return False
    if backend == "queue":
        return True
    with unit_of_work(ctx.sessions, write=False) as session:
        if not session.scalar(text("SELECT to_regclass('procrastinate_workers') IS NOT NULL")):
            return False
        alive = session.scalar(text(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => :s)"),
            {"s": ctx.settings.waves.stalled_seconds})
    return bool(alive)


def plan(ctx: EngineContext, where: ColumnElement[bool]) -> list[tuple[str | None, str | None]]:
    """The chunks' (lo, hi] id ranges: every ``chunk_size``-th id of the scan's active customers (``where``: its
    index pre-filter) is a boundary."""
    size = ctx.settings.waves.chunk_size
    numbered = (select(Customer.id.label("id"), func.row_number().over(order_by=Customer.id).label("n"))
                .where(where, Customer.status == CustomerStatus.ACTIVE.value).subquery())
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.execute(select(numbered.c.id, numbered.c.n, select(func.count()).select_from(numbered)
                                      .scalar_subquery()).where(numbered.c.n % size == 0).order_by(numbered.c.id)).all()
    # The last chunk is open-ended (customers added since): the last customer is no boundary of its own.
    bounds: list[str | None] = [cid for cid, n, total in rows if n < total]
    edges = [None, *bounds, None]
    return list(zip(edges, edges[1:], strict=False))


def start_wave(ctx: EngineContext, job: str, day: date, where: ColumnElement[bool], *, force: bool = False) -> int:
    """Cut scan (job, day) into chunks (once: a rerun keeps the chunks already done) and queue every chunk not done.

    Returns the chunks queued (0: all were done). The caller holds the (job, day) claim (``care_scan_run``)."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        if force:
            session.execute(delete(WaveChunk).where(WaveChunk.job == job, WaveChunk.day == day))
        have = session.scalar(select(func.count()).select_from(WaveChunk).where(
            WaveChunk.job == job, WaveChunk.day == day))
    if not have:
        ranges = plan(ctx, where)
        with unit_of_work(ctx.sessions) as session:
            session.add_all(WaveChunk(job=job, day=day, seq=seq, lo=lo, hi=hi, state="queued", started=0, skipped=0,
                                      attempts=0, queued_at=now) for seq, (lo, hi) in enumerate(ranges))
    with unit_of_work(ctx.sessions) as session:
        chunks = list(session.scalars(select(WaveChunk).where(
            WaveChunk.job == job, WaveChunk.day == day, WaveChunk.state != "done").order_by(WaveChunk.seq)))
        for chunk in chunks:
            chunk.state, chunk.error, chunk.attempts, chunk.queued_at = "queued", None, 0, now
        ids = [chunk.id for chunk in chunks]
    _defer(ctx, ids)
    log.info("wave %s for %s: %d chunks queued", job, day, len(ids))
    return len(ids)


def _defer(ctx: EngineContext, ids: list[int]) -> None:
    from procrastinate import exceptions

    if not ids:
        return
    app = queue_app(ctx, pool={"min_size": 1, "max_size": 1})
    with app.open():
        for chunk_id in ids:
            try:
                app.configure_task(TASK, queue=QUEUE, queueing_lock=f"wave_chunk:{chunk_id}").defer(chunk_id=chunk_id)
            except exceptions.AlreadyEnqueued:  # still waiting from an earlier run: once is enough
                pass


def totals(ctx: EngineContext, job: str, day: date) -> tuple[int, int]:
    with unit_of_work(ctx.sessions, write=False) as session:
        started, skipped = session.execute(select(func.coalesce(func.sum(WaveChunk.started), 0),
                                                  func.coalesce(func.sum(WaveChunk.skipped), 0)).where(
            WaveChunk.job == job, WaveChunk.day == day)).one()
    return int(started), int(skipped)


# --- a worker's chunk --------------------------------------------------------------------------------------------------


def run_chunk(ctx: EngineContext, scans: Scans, chunk_id: int) -> None:
    """Run one chunk (a worker's job): go on from its cursor, commit counts with each batch, close the wave if last."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        chunk = session.get(WaveChunk, chunk_id)
        if chunk is None or chunk.state == "done":
            return
        chunk.state, chunk.started_at, chunk.attempts = "running", now, chunk.attempts + 1
        job, day, lo, hi, cursor = chunk.job, chunk.day, chunk.lo, chunk.hi, chunk.cursor

    def progress(session: Session, last: str, started: int, skipped: int) -> None:
        session.execute(update(WaveChunk).where(WaveChunk.id == chunk_id).values(
            started=WaveChunk.started + started, skipped=WaveChunk.skipped + skipped, cursor=last))

    try:
        scans[job](ctx, day, Span(lo=cursor or lo, hi=hi, progress=progress))
    except Exception as exc:
        with unit_of_work(ctx.sessions) as session:
            run = _lock_run(session, job, day)
            chunk = session.get_one(WaveChunk, chunk_id)
            chunk.error = f"{type(exc).__name__}: {exc}"[:2000]
            chunk.state = "failed" if chunk.attempts >= ctx.settings.waves.max_attempts else "queued"
            _settle(ctx, session, run, job, day)
        log.exception("wave %s for %s: chunk %d failed (try %d)", job, day, chunk_id, chunk.attempts)
        raise
    with unit_of_work(ctx.sessions) as session:
        run = _lock_run(session, job, day)  # first: the wave's last two chunks finishing at once settle in turn
        chunk = session.get_one(WaveChunk, chunk_id)
        chunk.state, chunk.finished_at, chunk.error = "done", ctx.clock.now(), None
        _settle(ctx, session, run, job, day)


def _lock_run(session: Session, job: str, day: date) -> CareScanRun | None:
    return session.get(CareScanRun, (job, day), with_for_update=True)


def _settle(ctx: EngineContext, session: Session, run: CareScanRun | None, job: str, day: date) -> None:
    """Close the wave's ``care_scan_run`` once no chunk is queued or running: done, or failed if a chunk gave up."""
    session.flush()
    states = dict(session.execute(select(WaveChunk.state, func.count()).where(
        WaveChunk.job == job, WaveChunk.day == day).group_by(WaveChunk.state)).all())
    if run is None or run.status != "running" or states.get("queued") or states.get("running"):
        return
    started, skipped = session.execute(select(func.sum(WaveChunk.started), func.sum(WaveChunk.skipped)).where(
        WaveChunk.job == job, WaveChunk.day == day)).one()
    run.started, run.skipped, run.finished_at = int(started or 0), int(skipped or 0), ctx.clock.now()
    failed = states.get("failed", 0)
    run.status, run.error = ("failed", f"{failed} chunks failed") if failed else ("done", None)
    log.info("wave %s for %s %s: %d started, %d skipped", job, day, run.status, run.started, run.skipped)


# --- the queue ---------------------------------------------------------------------------------------------------------


def conninfo(ctx: EngineContext) -> str:
    return ctx.db.url.set(drivername="postgresql").render_as_string(hide_password=False)


def queue_app(ctx: EngineContext, scans: Scans | None = None, *, pool: dict[str, Any] | None = None) -> Any:
    """procrastinate's App on CareFlow's database, with the chunk task (retried up to ``max_attempts``)."""
    from procrastinate import App, PsycopgConnector, RetryStrategy

    app = App(connector=PsycopgConnector(conninfo=conninfo(ctx), **(pool or {"min_size": 1, "max_size": 3})))

    def wave_chunk(chunk_id: int) -> None:
        assert scans is not None, "only a worker's app runs chunks"
        run_chunk(ctx, scans, chunk_id)

    app.task(name=TASK, queue=QUEUE, retry=RetryStrategy(max_attempts=ctx.settings.waves.max_attempts, wait=2))(
        wave_chunk)
    return app


def run_worker(ctx: EngineContext, scans: Scans, *, name: str | None = None, wait: bool = True) -> None:
    """``careflow worker``: take chunks from the "waves" queue until SIGTERM/SIGINT (the running chunk finishes
    first); with ``wait=False`` stop once the queue is empty. Also queues again the chunks of stalled workers."""
    asyncio.run(_work(ctx, scans, name=name, wait=wait))


async def _work(ctx: EngineContext, scans: Scans, *, name: str | None, wait: bool) -> None:
    stalled = ctx.settings.waves.stalled_seconds
    app = queue_app(ctx, scans)
    async with app.open_async():
        rescuer = asyncio.create_task(_rescue_stalled(app, stalled))
        try:
            await app.run_worker_async(queues=[QUEUE], name=name or "careflow-worker", concurrency=1, wait=wait,
                                       update_heartbeat_interval=stalled / 3, stalled_worker_timeout=stalled,
                                       delete_jobs="successful")
        finally:
            rescuer.cancel()


async def _rescue_stalled(app: Any, stalled: float) -> None:
    """Queue again the chunks whose worker stopped beating (killed, machine lost): procrastinate's stalled jobs."""
    while True:
        try:
            for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled):
                try:
                    await app.job_manager.retry_job(job)
                    log.warning("wave chunk job %s of a stalled worker queued again", job.id)
                except Exception:  # noqa: BLE001 - another worker queued it again first
                    log.debug("wave chunk job %s was queued again by another worker", job.id)
        except Exception:  # noqa: BLE001 - a database blip: try again next round
            log.exception("looking for stalled wave chunks failed")
        await asyncio.sleep(max(stalled / 3, 0.5))


# --- progress ----------------------------------------------------------------------------------------------------------


def recent_waves(ctx: EngineContext, *, days: int = 7) -> list[WaveStatus]:
    """Waves (scans that were cut into chunks) of the last ``days`` days, newest first."""
    since = ctx.clock.now().astimezone(ctx.settings.zone).date() - timedelta(days=days)
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.execute(select(WaveChunk.job, WaveChunk.day, WaveChunk.state, func.count(),
                                      func.sum(WaveChunk.started), func.sum(WaveChunk.skipped))
                               .where(WaveChunk.day >= since)
                               .group_by(WaveChunk.job, WaveChunk.day, WaveChunk.state)).all()
        runs = {(r.job, r.day): r for r in session.scalars(select(CareScanRun).where(CareScanRun.day >= since))}
    waves: dict[tuple[str, date], dict[str, Any]] = {}
    for job, day, state, count, started, skipped in rows:
        wave = waves.setdefault((job, day), {"chunks": {}, "started": 0, "skipped": 0})
        wave["chunks"][state] = int(count)
        wave["started"] += int(started or 0)
        wave["skipped"] += int(skipped or 0)
    out = []
    for (job, day), wave in waves.items():
        run = runs.get((job, day))
        out.append(WaveStatus(job, day, run.status if run else "running", wave["chunks"], wave["started"],
                              wave["skipped"], run.started_at if run else ctx.clock.now(),
                              run.finished_at if run else None))
    return sorted(out, key=lambda w: (w.day, w.started_at), reverse=True)


def chunk_figures(ctx: EngineContext, *, days: int = 7) -> list[tuple[str, str, int, int, int]]:
    """For /metrics: (job, state, chunks, customers started, customers skipped) per job (every state present) over
    the waves of the last ``days`` days; the customer figures repeat on each state row of a job."""
    since = ctx.clock.now().astimezone(ctx.settings.zone).date() - timedelta(days=days)
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.execute(select(WaveChunk.job, WaveChunk.state, func.count(), func.sum(WaveChunk.started),
                                      func.sum(WaveChunk.skipped)).where(WaveChunk.day >= since)
                               .group_by(WaveChunk.job, WaveChunk.state)).all()
    counts: dict[tuple[str, str], int] = {}
    people: dict[str, tuple[int, int]] = {}
    for job, state, count, started, skipped in rows:
        counts[(job, state)] = int(count)
        before = people.get(job, (0, 0))
        people[job] = (before[0] + int(started or 0), before[1] + int(skipped or 0))
    return [(job, state, counts.get((job, state), 0), *people[job]) for job in sorted(people) for state in CHUNK_STATES]
