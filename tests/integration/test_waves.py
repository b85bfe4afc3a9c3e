"""Waves (engine.care.waves): a care scan cut into chunks, each chunk resumable after a kill with exact counts; on
PostgreSQL two ``careflow worker`` processes share a holiday wave and one of them is killed with SIGKILL mid-wave."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from engine.care import scans, waves
from engine.care.models import CareScanRun, WaveChunk
from engine.care.scans import HOLIDAY_PROCESS, WAVE_SCANS, run_scan, scan_where
from engine.config import WaveSettings
from engine.context import build_engine
from engine.db.models import ProcessInstance
from engine.db.session import unit_of_work
from engine.outbox.models import OutboxMessage
from tests.conftest import TEST_DATA_KEY
from tests.support.care import add_customers, customer, deploy_care

ROOT = Path(__file__).resolve().parents[2]
NATIONAL_DAY = date(2025, 10, 1)


def _instances_per_customer(ctx) -> dict[str, int]:
    with ctx.sessions() as session:
        return dict(session.execute(select(ProcessInstance.customer_id, func.count()).where(
            ProcessInstance.process_key == HOLIDAY_PROCESS).group_by(ProcessInstance.customer_id)).all())


def _chunks(ctx) -> list[WaveChunk]:
    with ctx.sessions() as session:
        return list(session.scalars(select(WaveChunk).order_by(WaveChunk.seq)))


def test_plan_cuts_every_customer_into_exactly_one_chunk(ctx):
    add_customers(ctx, *(customer(f"P{i:03d}") for i in range(23)))
    wave_ctx = build_engine(replace(ctx.settings, waves=WaveSettings(chunk_size=5)), clock=ctx.clock, db=ctx.db)
    ranges = waves.plan(wave_ctx, scan_where(wave_ctx, "holiday", NATIONAL_DAY))
    assert ranges[0][0] is None and ranges[-1][1] is None  # open ends: customers added meanwhile are not lost
    ids = [f"P{i:03d}" for i in range(23)]
    covered = [[c for c in ids if (lo is None or c > lo) and (hi is None or c <= hi)] for lo, hi in ranges]
    assert sorted(c for part in covered for c in part) == ids
    assert [len(part) for part in covered] == [5, 5, 5, 5, 3]


def test_a_chunk_killed_mid_way_goes_on_from_its_cursor_with_exact_counts(ctx, monkeypatch):
    deploy_care(ctx, "holiday_care")
    add_customers(ctx, *(customer(f"K{i:03d}") for i in range(12)))
    settings = replace(ctx.settings, care=replace(ctx.settings.care, batch_size=4), waves=WaveSettings(chunk_size=100))
    wave_ctx = build_engine(settings, clock=ctx.clock, db=ctx.db)
    with unit_of_work(ctx.sessions) as session:  # the coordinator's part, without the queue
        session.add(CareScanRun(job="holiday", day=NATIONAL_DAY, status="running", started=0, skipped=0,
                                started_at=ctx.clock.now()))
        session.add(WaveChunk(job="holiday", day=NATIONAL_DAY, seq=0, lo=None, hi=None, state="queued", started=0,
                              skipped=0, attempts=0, queued_at=ctx.clock.now()))
    [chunk] = _chunks(ctx)

    real = scans.start_instances
    calls = []

    def dies_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(scans, "start_instances", dies_on_the_second_batch)
    with pytest.raises(RuntimeError):
        waves.run_chunk(wave_ctx, WAVE_SCANS, chunk.id)
    [chunk] = _chunks(ctx)
    assert (chunk.state, chunk.started, chunk.cursor, chunk.attempts) == ("queued", 4, "K003", 1)
    with ctx.sessions() as session:
        assert session.get_one(CareScanRun, ("holiday", NATIONAL_DAY)).status == "running"

    monkeypatch.setattr(scans, "start_instances", real)
    waves.run_chunk(wave_ctx, WAVE_SCANS, chunk.id)
    [chunk] = _chunks(ctx)
    assert (chunk.state, chunk.started, chunk.skipped, chunk.attempts) == ("done", 12, 0, 2)
    assert _instances_per_customer(ctx) == {f"K{i:03d}": 1 for i in range(12)}
    with ctx.sessions() as session:
        run = session.get_one(CareScanRun, ("holiday", NATIONAL_DAY))
        assert (run.status, run.started, run.skipped) == ("done", 12, 0)
    [wave] = waves.recent_waves(wave_ctx, days=3650)
    assert (wave.job, wave.chunks, wave.started) == ("holiday", {"done": 1}, 12)


def test_a_chunk_that_keeps_failing_fails_the_wave(ctx, monkeypatch):
    deploy_care(ctx, "holiday_care")
    add_customers(ctx, customer("F001"))
    wave_ctx = build_engine(replace(ctx.settings, waves=WaveSettings(max_attempts=2)), clock=ctx.clock, db=ctx.db)
    with unit_of_work(ctx.sessions) as session:
        session.add(CareScanRun(job="holiday", day=NATIONAL_DAY, status="running", started=0, skipped=0,
                                started_at=ctx.clock.now()))
        session.add(WaveChunk(job="holiday", day=NATIONAL_DAY, seq=0, lo=None, hi=None, state="queued", started=0,
                              skipped=0, attempts=0, queued_at=ctx.clock.now()))
    monkeypatch.setattr(scans, "start_instances", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    [chunk] = _chunks(ctx)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            waves.run_chunk(wave_ctx, WAVE_SCANS, chunk.id)
    [chunk] = _chunks(ctx)
    assert (chunk.state, chunk.error) == ("failed", "RuntimeError: down")
    with ctx.sessions() as session:
        run = session.get_one(CareScanRun, ("holiday", NATIONAL_DAY))
        assert (run.status, run.error) == ("failed", "1 chunks failed")


def test_inline_backend_runs_the_scan_in_process(ctx):
    deploy_care(ctx, "holiday_care")
    add_customers(ctx, customer("I001"), customer("I002"))
    inline = build_engine(replace(ctx.settings, waves=WaveSettings(backend="inline")), clock=ctx.clock, db=ctx.db)
    result = run_scan(inline, "holiday", NATIONAL_DAY)
    assert (result.started, result.queued) == (2, 0)
    assert _chunks(ctx) == []


class Worker:
    def __init__(self, database_url: str, name: str, log: Path) -> None:
        self.name, self.log = name, log
        env = {**os.environ, "DATABASE_URL": database_url, "CAREFLOW_DATA_KEY": TEST_DATA_KEY,
               "CAREFLOW_WAVES_STALLED_SECONDS": "2", "CAREFLOW_CARE_BATCH_SIZE": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with open(log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-c", "from web.cli import run; run()", "worker",
                                             "--name", name], cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        assert self.process.poll() is None, self.log.read_text()[-3000:]
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _wait(what: str, condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.1)


def test_two_workers_share_a_wave_and_one_killed_mid_wave_loses_and_doubles_nothing(ctx, is_postgres, tmp_path):
    if not is_postgres:
        pytest.skip("the job queue lives in PostgreSQL")
    count = 400
    deploy_care(ctx, "holiday_care")
    add_customers(ctx, *(customer(f"W{i:04d}") for i in range(count)))
    url = ctx.db.url.render_as_string(hide_password=False)
    wave_ctx = build_engine(replace(ctx.settings, waves=WaveSettings(backend="auto", chunk_size=25)),
                            clock=ctx.clock, db=ctx.db)
    assert not waves.use_queue(wave_ctx)  # auto: no worker alive, the scheduler would run the scan itself
    workers = [Worker(url, "w1", tmp_path / "w1.log")]
    try:
        _wait("a worker beating", lambda: waves.use_queue(wave_ctx), 60)
        with ctx.sessions() as session:  # the first worker's id in the queue, before the second one registers
            [first] = session.scalars(text("SELECT id FROM procrastinate_workers")).all()
        workers.append(Worker(url, "w2", tmp_path / "w2.log"))
        result = run_scan(wave_ctx, "holiday", NATIONAL_DAY)
        assert (result.ran, result.started, result.queued) == (True, 0, 16)
        assert run_scan(wave_ctx, "holiday", NATIONAL_DAY).ran is False  # (job, day) claimed once

        def done() -> int:
            return sum(c.state == "done" for c in _chunks(ctx))

        def first_mid_chunk() -> bool:  # w1 holds a chunk with a batch committed and at least 15 customers to go
            with ctx.sessions() as session:
                return bool(session.scalar(text(
                    "SELECT count(*) FROM procrastinate_jobs j JOIN wave_chunk c ON c.id = (j.args->>'chunk_id')::int "
                    "WHERE j.status = 'doing' AND j.worker_id = :w AND c.cursor IS NOT NULL AND c.started <= 10"),
                    {"w": first}))

        _wait("two chunks done", lambda: done() >= 2)
        _wait("w1 in the middle of a chunk", first_mid_chunk, 60)
        workers[0].kill()
        assert done() < 16, "the wave ended before the kill: nothing was tested"

        def finished() -> bool:
            with ctx.sessions() as session:
                return session.get_one(CareScanRun, ("holiday", NATIONAL_DAY)).status != "running"

        _wait("the wave to finish", finished)
    finally:
        for worker in workers:
            worker.stop()
        with ctx.db.begin() as conn:  # the killed worker's row would count as alive for the next tests (auto backend)
            conn.execute(text("TRUNCATE procrastinate_jobs, procrastinate_workers, procrastinate_events, "
                              "procrastinate_periodic_defers CASCADE"))
    chunks = _chunks(ctx)
    assert {c.state for c in chunks} == {"done"} and len(chunks) == 16
    assert max(c.attempts for c in chunks) >= 2  # the killed worker's chunk was taken again
    assert _instances_per_customer(ctx) == {f"W{i:04d}": 1 for i in range(count)}
    with ctx.sessions() as session:
        run = session.get_one(CareScanRun, ("holiday", NATIONAL_DAY))
        assert (run.status, run.started, run.skipped) == ("done", count, 0)
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == count
    assert sum(c.started for c in chunks) == count
