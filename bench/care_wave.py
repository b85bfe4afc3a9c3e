"""The National Day wave on PostgreSQL: one ``holiday_care`` instance (and one queued message) per customer.

- holiday_wave_pg: M active customers (default 20,000; CAREFLOW_BENCH_WAVE), ``scan_holidays`` for
  2026-10-01 under a FrozenClock at 01:00 UTC, in instances/s; the run fails unless M instances and M
  ``outbox_message`` rows were written. Baseline: the engine's start-only rate, ``start_instances`` with
  the same variables and batch size for a sample of the same customers (CAREFLOW_BENCH_WAVE_BASELINE,
  default 2,000, half before and half after the scan) under another business key, so the ratio shows
  what the scan costs around the starts.
- holiday_wave_1m_extrapolated: 1,000,000 / that rate, in seconds, against the one-hour budget.
- holiday_wave_1m_extrapolated_1p / holiday_wave_1m_extrapolated_2p: the same holiday wave as a queued wave
  (engine.care.waves) taken by 1, then 2 ``careflow worker`` processes (started before the wave, as in production),
  from the coordinator's ``run_scan`` until the ``care_scan_run`` row is done, extrapolated to 1,000,000 customers;
  baseline of both: the 1-process figure. New Year 2027 for the first, National Day 2027 for the second (each all
  M customers, a fresh business key), so the second runs on tables the first made bigger. The customers each wave
  really ran are noted; the wave fails unless it started M instances.
- holiday_wave_peak_rss: peak resident set of a child process that runs only the scan, read from
  ``VmHWM`` in /proc/self/status; baseline: the same child's peak before the scan (imports, context,
  one connection). Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that survives fork+exec, so the
  child would report the parent's peak (~100 MB after inserting the customers) instead of its own.

Customers are bulk-added as ``customer_row`` rows (not one ``create_customer`` each). The database
``careflow_bench_wave_<pid>`` is created for the run and dropped afterwards.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from bench.common import Line, note
from engine.bpmn.loader import SourceFile
from engine.care.scans import HOLIDAY_PROCESS, WISHES, scan_holidays
from engine.clock import FrozenClock
from engine.config import DatabaseSettings, PrivacySettings, Settings, normalize_database_url
from engine.context import EngineContext, build_engine
from engine.customers.models import Customer
from engine.customers.service import TIERS, CustomerInput, customer_row
from engine.db import migrate
from engine.db.models import ProcessInstance
from engine.outbox.models import OutboxMessage
from engine.privacy import new_data_key
from engine.rules.care_dates import occasions_on
from engine.services import definitions
from engine.services.instances import StartRequest, start_instances
from engine.views import SYSTEM, Actor

M = int(os.environ.get("CAREFLOW_BENCH_WAVE", "20000"))
SAMPLE = int(os.environ.get("CAREFLOW_BENCH_WAVE_BASELINE", "2000"))
DAY = date(2026, 10, 1)
AT = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


def context(url: str, key: str) -> EngineContext:
    return build_engine(Settings(database=DatabaseSettings(url=url),
                                 privacy=PrivacySettings(data_key=key)), clock=FrozenClock(AT))


def setup(ctx: EngineContext, count: int) -> float:
    """Schema, the holiday_care bundle and ``count`` customers; returns customer rows inserted per second."""
    migrate.upgrade(ctx.db)
    files = [SourceFile("holiday_care.bpmn", (ROOT / "processes/holiday_care.bpmn").read_bytes()),
             SourceFile("care_call_record.json", (ROOT / "forms/care_call_record.json").read_bytes())]
    definitions.deploy_definition(ctx, files=files, actor=Actor("bench", frozenset({"designer"})))
    begin = time.perf_counter()
    for first in range(0, count, 2000):
        rows = [customer_row(ctx, CustomerInput(
            id=f"C{i:09d}", name=f"客户{i}", birth_date=date(1940 + i % 65, 1 + i % 12, 1 + i % 28),
            tier=TIERS[i % len(TIERS)], manager=f"mgr{i % 50}", phone=f"138{i:08d}",
        )) for i in range(first, min(count, first + 2000))]
        with ctx.sessions.begin() as session:
            session.add_all(rows)
    return count / (time.perf_counter() - begin)


def start_only(ctx: EngineContext, offset: int, count: int) -> tuple[int, float]:
    """``start_instances`` for ``count`` customers from ``offset``, the scan's batch size and variables, no scan.

    Returns (instances started, seconds).
    """
    [occasion] = occasions_on(DAY)
    wish_zh, wish_en = WISHES[occasion.key]
    with ctx.sessions() as session:
        customers = session.scalars(select(Customer).order_by(Customer.id).offset(offset).limit(count)).all()
    batch = ctx.settings.care.batch_size
    begin = time.perf_counter()
    for first in range(0, len(customers), batch):
        requests = [StartRequest(f"bench:{c.id}", c.id, {
            "customer_id": c.id, "occasion": occasion.key, "tier": c.tier, "manager": c.manager,
            "occasion_zh": occasion.name_zh, "occasion_en": occasion.name_en, "wish_zh": wish_zh, "wish_en": wish_en,
        }) for c in customers[first:first + batch]]
        result = start_instances(ctx, process_key=HOLIDAY_PROCESS, requests=requests, actor=SYSTEM)
        assert len(result.started) == len(requests), result.skipped
    return len(customers), time.perf_counter() - begin


def counts(ctx: EngineContext) -> tuple[int, int]:
    """(holiday_care instances, outbox rows)."""
    with ctx.sessions() as session:
        return (int(session.scalar(select(func.count()).select_from(ProcessInstance)
                                   .where(ProcessInstance.process_key == HOLIDAY_PROCESS))),
                int(session.scalar(select(func.count()).select_from(OutboxMessage))))


def peak_rss_kb() -> int:
    """This process's peak resident set in kB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for row in status:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child() -> None:
    """Run only the scan (database and key on stdin); print one JSON line with time, counts and peak RSS."""
    job = json.loads(sys.stdin.read())
    ctx = context(job["url"], job["key"])
    with ctx.sessions() as session:  # connect before measuring, like a running scheduler would be
        session.scalar(select(func.count()).select_from(Customer))
    rss_before = peak_rss_kb()
    begin = time.perf_counter()
    started, skipped = scan_holidays(ctx, DAY)
    seconds = time.perf_counter() - begin
    rss_peak = peak_rss_kb()
    ctx.db.dispose()
    print(json.dumps({"started": started, "skipped": skipped, "seconds": seconds,
                      "rss_before_kb": rss_before, "rss_peak_kb": rss_peak}))


def own_database(url: str) -> tuple[str, Callable[[], None]]:
    admin = create_engine(normalize_database_url(url), isolation_level="AUTOCOMMIT")
    name = f"careflow_bench_wave_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


def run(line: Line, postgres_url: Callable[[], str | None]) -> None:
    url = postgres_url()
    if url is None:
        print("bench holiday_wave_pg skipped: PostgreSQL unreachable", flush=True)
        return
    url, drop = own_database(url)
    key = new_data_key()
    try:
        ctx = context(url, key)
        inserted = setup(ctx, M)
        note(f"wave: {M} customers inserted at {inserted:.0f} rows/s")
        half = min(SAMPLE, M) // 2  # baseline halves before and after the scan: drift hits both alike
        sampled, sample_seconds = start_only(ctx, 0, half)
        before = counts(ctx)
        done = subprocess.run([sys.executable, "-m", "bench.care_wave", "--child"], input=json.dumps({"url": url, "key": key}),
                              capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"the scan child failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        after = counts(ctx)
        instances, queued = after[0] - before[0], after[1] - before[1]
        if not result["started"] == instances == queued == M:
            raise RuntimeError(f"expected {M} instances and outbox rows, got started={result['started']} "
                               f"skipped={result['skipped']} instances={instances} outbox={queued}")
        note(f"wave: scan started {M} instances, {queued} outbox rows queued, in {result['seconds']:.1f} s")
        more, seconds = start_only(ctx, half, min(SAMPLE, M) - half)
        baseline = (sampled + more) / (sample_seconds + seconds)
        note(f"wave: start-only baseline {sampled + more} instances in {sample_seconds + seconds:.1f} s")
        ctx.db.dispose()
        waves_seconds = (queued_wave(url, key, 1, date(2027, 1, 1)), queued_wave(url, key, 2, date(2027, 10, 1)))
    finally:
        drop()
    wave = M / result["seconds"]
    extrapolated = 1_000_000 / wave
    line("holiday_wave_pg", wave, f"instances/s(M={M})", baseline)
    line("holiday_wave_1m_extrapolated", extrapolated, "s", 3600.0)
    line("holiday_wave_peak_rss", result["rss_peak_kb"] / 1024, "MB", result["rss_before_kb"] / 1024)
    one, two = waves_seconds
    line("holiday_wave_1m_extrapolated_1p", 1_000_000 / (M / one), "s", 1_000_000 / (M / one))
    line("holiday_wave_1m_extrapolated_2p", 1_000_000 / (M / two), "s", 1_000_000 / (M / one))


def queued_wave(url: str, key: str, processes: int, day: date) -> float:
    """The holiday wave of ``day`` on the queue, taken by ``processes`` workers: seconds until its run is done."""
    from dataclasses import replace

    from engine.care.models import CareScanRun
    from engine.care.scans import run_scan
    from engine.config import WaveSettings

    base = context(url, key)
    ctx = build_engine(replace(base.settings, waves=WaveSettings(backend="queue", chunk_size=max(100, M // 20))),
                       clock=FrozenClock(AT), db=base.db)
    env = {**os.environ, "DATABASE_URL": url, "CAREFLOW_DATA_KEY": key, "PYTHONUNBUFFERED": "1"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    workers = [subprocess.Popen([sys.executable, "-c", "from web.cli import run; run()", "worker", "--name",
                                 f"bench{n}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True) for n in range(processes)]
    try:
        time.sleep(5)  # imports and the first poll: a production worker is already waiting
        for worker in workers:
            if worker.poll() is not None:
                raise RuntimeError(f"a bench worker ended: {worker.stderr.read().decode() if worker.stderr else ''}")
        begin = time.perf_counter()
        result = run_scan(ctx, "holiday", day)
        if not result.queued:
            raise RuntimeError(f"the wave was not queued: {result}")
        while True:
            with ctx.sessions() as session:
                run = session.get_one(CareScanRun, ("holiday", day))
                status, started, skipped = run.status, run.started, run.skipped
            if status != "running":
                break
            if any(worker.poll() is not None for worker in workers):
                raise RuntimeError("a bench worker ended during the wave")
            time.sleep(0.2)
        seconds = time.perf_counter() - begin
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        base.db.dispose()
    if (status, started) != ("done", M):
        raise RuntimeError(f"the {processes}-process wave ended {status} with {started} started, {skipped} skipped")
    note(f"wave: {processes} worker process(es) ran {started + skipped} customers ({started} started, {skipped} "
         f"skipped) in {seconds:.1f} s = {M / seconds:.0f} instances/s; load average {os.getloadavg()}")
    return seconds


if __name__ == "__main__" and sys.argv[1:] == ["--child"]:
    child()
