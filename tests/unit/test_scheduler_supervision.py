"""The scheduler's jobs cannot die, and when they stop anyway (a killed process, a hung round) it is seen.

Finding 4 of the trust issue: a sweep that ran longer than its re-check interval re-armed its one-shot APScheduler
job while still running; APScheduler refused the second instance and dropped the job for good. Here the sweeps run
as loops (engine.scheduler.DueJob.serve) supervised by a SchedulerRunner that writes heartbeat rows. The clock is a
FrozenClock moved by the tests; threads are only waited for through events, never slept on.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from engine.db.scheduling import SchedulerHeartbeat
from engine.scheduler import SchedulerRunner
from engine.services import scheduler_health

WAIT = 20.0  # seconds a thread may take to get to a point (a bound on a wait, not a sleep)


class Escape(BaseException):
    """Gets past ``except Exception``: the loop thread dies, as on an interpreter-level failure."""


@pytest.fixture
def runner(ctx):
    made: list[SchedulerRunner] = []

    def make(node: str = "host-a:1", **kwargs) -> SchedulerRunner:
        scheduler = BackgroundScheduler(timezone="UTC")
        item = SchedulerRunner(ctx, scheduler, max_idle=kwargs.pop("max_idle", 30), care_scans=kwargs.pop("care_scans", False),
                               node=node, **kwargs)
        made.append(item)
        return item

    yield make
    for item in made:
        item.stop(forget=False)


def _until(condition, what) -> None:
    """Wait (bounded) for another thread to get somewhere; the frozen clock, not this, drives the time logic."""
    pause = threading.Event()
    for _ in range(int(WAIT / 0.02)):
        if condition():
            return
        pause.wait(0.02)
    raise AssertionError(f"timed out waiting until {what() if callable(what) else what}")


def _rows(ctx) -> dict[tuple[str, str], SchedulerHeartbeat]:
    with ctx.sessions() as session:
        return {(row.job, row.node): row for row in session.scalars(select(SchedulerHeartbeat))}


def test_a_round_longer_than_its_interval_keeps_the_job_scheduled(ctx, clock, runner):
    sched = runner()
    job = sched.jobs["timers"]
    rounds: list = []
    armed_during_round: list = []
    third = threading.Event()

    def slow(now):
        rounds.append(now)
        if len(rounds) == 1:
            clock.advance(timedelta(seconds=45))  # this round overruns the 30 s re-check
            job.poke(clock.now() - timedelta(seconds=5))  # and work became due while it ran
            armed_during_round.append(job.armed_for)  # nothing may be armed (and fired, and dropped) mid-round
        if len(rounds) == 3:
            third.set()

    job.work = slow
    start = clock.now()
    sched.start()
    for _ in range(int(WAIT * 10)):  # round 2 follows at once (overdue); round 3 after the next re-check
        if len(rounds) >= 2:
            break
        job.wake()
        third.wait(0.1)
    assert len(rounds) >= 2, rounds
    assert armed_during_round == [start]
    assert rounds[1] == start + timedelta(seconds=45)  # the overrun round's successor ran at once
    clock.advance(timedelta(seconds=31))
    job.wake()
    assert third.wait(WAIT), rounds
    _until(lambda: job.rounds >= 3, "the third round ended")
    assert sched.threads["timers"].is_alive()
    assert job.armed_for is not None and job.armed_for > rounds[2]


def test_a_job_that_raises_keeps_running_and_records_the_error(ctx, clock, runner, caplog):
    sched = runner()
    job = sched.jobs["outbox"]

    def broken(_now):
        raise RuntimeError("database went away")

    job.work = broken
    with caplog.at_level(logging.ERROR, logger="engine.scheduler"):
        job.run()
    assert "outbox.dispatch failed" in caplog.text
    assert job.armed_for == clock.now() + timedelta(seconds=30)  # the next round is planned all the same
    sched.supervise()
    row = _rows(ctx)[("outbox.dispatch", "host-a:1")]
    assert row.last_error == "RuntimeError: database went away" and row.last_error_at == clock.now()
    assert row.last_success_at is None and row.beat_at == clock.now()
    assert row.next_due_at == clock.now() + timedelta(seconds=30)

    clock.advance(timedelta(seconds=30))
    job.work = lambda now: None
    job.run()
    sched.supervise()
    row = _rows(ctx)[("outbox.dispatch", "host-a:1")]
    assert row.last_success_at == clock.now() and row.last_start_at == clock.now()
    assert row.last_error == "RuntimeError: database went away"  # kept, with its time, for whoever looks


def test_a_loop_whose_thread_died_is_restarted(ctx, clock, runner, caplog):
    sched = runner()
    job = sched.jobs["sla"]
    calls: list = []
    again = threading.Event()

    def dies_once(_now):
        calls.append(1)
        if len(calls) == 1:
            raise Escape()
        again.set()

    job.work = dies_once
    sched.start()
    first = sched.threads["sla"]
    first.join(WAIT)
    assert not first.is_alive() and calls == [1]
    with caplog.at_level(logging.ERROR, logger="engine.scheduler"):
        sched.supervise()
    assert "scheduler loop sla.breaches died; restarting it" in caplog.text
    assert sched.restarts == 1 and sched.threads["sla"] is not first and sched.threads["sla"].is_alive()
    clock.advance(timedelta(seconds=31))
    job.wake()
    assert again.wait(WAIT)


def test_a_hung_round_makes_its_heartbeat_stale(ctx, clock, runner):
    sched = runner()
    job = sched.jobs["timers"]
    inside, release = threading.Event(), threading.Event()

    def hangs(_now):
        inside.set()
        release.wait(WAIT)

    job.work = hangs
    sched.start()
    job.wake()
    assert inside.wait(WAIT)
    _until(lambda: sched.jobs["outbox"].rounds and sched.jobs["sla"].rounds, "the other sweeps' first rounds ended")
    started = job.running_since
    try:
        clock.advance(timedelta(seconds=301))
        sched.supervise()
        row = _rows(ctx)[("timers.sweep", "host-a:1")]
        assert row.beat_at == started
        health = scheduler_health.health(ctx)
        assert health.status == "degraded" and [j.job for j in health.stale_jobs] == ["timers.sweep"]
    finally:
        release.set()


def test_stale_heartbeats_degrade_health_and_log_an_error(ctx, clock, runner, caplog):
    assert scheduler_health.health(ctx).status == "unknown"  # no scheduler has ever written: nothing to judge
    sched = runner()
    sched.supervise()
    health = scheduler_health.health(ctx)
    assert health.status == "ok" and {j.job for j in health.jobs} == {"timers.sweep", "outbox.dispatch", "sla.breaches"}
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds + 1))  # the process was killed: no more beats
    with caplog.at_level(logging.ERROR, logger="engine.services.scheduler_health"):
        health = scheduler_health.health(ctx)
    assert health.status == "degraded" and health.stale_nodes == ("host-a:1",)
    assert {j.job for j in health.stale_jobs} == {"timers.sweep", "outbox.dispatch", "sla.breaches"}
    assert "scheduler job timers.sweep has stopped" in caplog.text


def test_a_killed_scheduler_is_reported_while_another_takes_its_work_over(ctx, clock, runner):
    first, second = runner("host-a:1"), runner("host-b:2")
    first.supervise()
    second.supervise()
    clock.advance(timedelta(seconds=ctx.settings.scheduler.stale_seconds + 1))
    second.supervise()  # only the second is still alive
    health = scheduler_health.health(ctx)
    assert health.status == "ok" and health.stale_nodes == ("host-a:1",)
    assert {j.node for j in health.jobs} == {"host-b:2"}


def test_a_clean_stop_removes_its_rows(ctx, clock, runner):
    sched = runner()
    sched.supervise()
    assert len(_rows(ctx)) == 3
    sched.stop()
    assert _rows(ctx) == {}


def test_daily_jobs_beat_with_their_next_run_and_never_raise(ctx, clock, runner):
    sched = runner(care_scans=True)
    sched.scheduler.start(paused=True)
    sched.supervise()
    row = _rows(ctx)[("care.scans", "host-a:1")]
    assert row.next_due_at == clock.now()  # started after 09:00 Shanghai: today's catch-up is due at once
    cron = sched.scheduler.get_job("care.scans").func.__self__

    def broken():
        raise RuntimeError("scan failed")

    cron.work = broken
    cron.run()  # logged and recorded, not raised into APScheduler
    sched.supervise()
    assert _rows(ctx)[("care.scans", "host-a:1")].last_error == "RuntimeError: scan failed"


def test_a_loop_whose_rounds_keep_raising_keeps_looping(ctx, clock, runner):
    sched = runner()
    job = sched.jobs["timers"]
    failures: list = []
    third = threading.Event()

    def broken(now):
        failures.append(now)
        if len(failures) == 3:
            third.set()
        raise RuntimeError("database went away")

    job.work = broken
    sched.start()
    for ended in (1, 2):
        _until(lambda n=ended: job.rounds >= n, lambda: f"round {len(failures)} ended ({job.rounds} ended)")
        clock.advance(timedelta(seconds=30))  # the next re-check is due
        job.wake()
    assert third.wait(WAIT), (failures, job.rounds, job.armed_for, clock.now())
    _until(lambda: job.rounds >= 3, "the third round ended")
    assert sched.threads["timers"].is_alive() and job.last_success is None
    assert job.last_error == "RuntimeError: database went away" and job.armed_for > failures[-1]


def test_the_settings_come_from_the_environment_and_are_checked():
    from engine.config import Settings
    from engine.errors import ConfigurationError

    settings = Settings.from_env({"CAREFLOW_SCHEDULER_STALE_SECONDS": "120", "CAREFLOW_SCHEDULER_HEARTBEAT_SECONDS": "5"})
    assert (settings.scheduler.stale_seconds, settings.scheduler.heartbeat_seconds) == (120.0, 5.0)
    assert (Settings().scheduler.stale_seconds, Settings().scheduler.heartbeat_seconds) == (300.0, 10.0)
    with pytest.raises(ConfigurationError, match="at least twice"):  # healthy jobs would look stopped
        Settings.from_env({"CAREFLOW_SCHEDULER_STALE_SECONDS": "15"})
