"""The sweeps are armed at the next due time; pokes move them earlier; nothing polls.

(The sweeps run as loops in engine.scheduler.SchedulerRunner since finding 4, no longer as one-shot APScheduler
jobs: tests/unit/test_scheduler_supervision.py covers the loops; here the planning.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from engine.scheduler import install_jobs, next_timer_due
from engine.services import instances
from engine.views import SYSTEM
from tests.support.bpmn import linear, timer_catch
from tests.support.engine import deploy


@pytest.fixture
def paused():
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)  # real job store, nothing runs: we look at what it would run when
    yield scheduler
    scheduler.shutdown(wait=False)


def _scheduler(ctx, scheduler, max_idle=30):
    return scheduler, install_jobs(scheduler, ctx, max_idle=max_idle)


def test_jobs_are_armed_at_once_so_overdue_work_is_caught_up(ctx, clock, paused):
    scheduler, jobs = _scheduler(ctx, paused)
    assert jobs["timers"].armed_for == clock.now() and jobs["outbox"].armed_for == clock.now()
    ids = {job.id for job in scheduler.get_jobs()}
    assert "care.scans" in ids and not {"timers.sweep", "outbox.dispatch"} & ids  # loops, not APScheduler jobs
    scans = scheduler.get_job("care.scans")
    assert str(scans.trigger.timezone) == "Asia/Shanghai" and "hour='9'" in str(scans.trigger)


def test_the_audit_chain_is_verified_every_night(ctx, paused, monkeypatch):
    import engine.scheduler as scheduler_module

    checked = []
    real = scheduler_module.daily_check
    monkeypatch.setattr(scheduler_module, "daily_check", lambda c: checked.append(real(c)) or checked[-1])
    scheduler, _ = _scheduler(ctx, paused)
    check = scheduler.get_job("audit.daily_check")
    assert str(check.trigger.timezone) == "Asia/Shanghai" and "hour='2'" in str(check.trigger)
    check.func()  # a supervised daily job: runs engine.audit_check.daily_check on the context
    assert [result.ok for result in checked] == [True] and check.func.__self__.last_success is not None


def test_a_new_timer_pokes_the_sweep_to_its_due_time(ctx, clock, paused):
    deploy(ctx, ("t.bpmn", linear("t", timer_catch("wait", "duration", '"PT10M"'))))
    scheduler, jobs = _scheduler(ctx, paused, max_idle=3600)
    jobs["timers"].run()  # nothing due: re-armed for the idle re-check
    assert jobs["timers"].armed_for == clock.now() + timedelta(hours=1)
    instances.start_instance(ctx, process_key="t", actor=SYSTEM)  # committed: the in-process hook pokes the job
    assert jobs["timers"].armed_for == clock.now() + timedelta(minutes=10)


def test_after_a_sweep_the_job_sleeps_until_the_next_timer(ctx, clock, paused):
    deploy(ctx, ("t.bpmn", linear("t", timer_catch("wait", "duration", '"PT1H"'))))
    first = instances.start_instance(ctx, process_key="t", actor=SYSTEM)
    clock.advance(timedelta(minutes=30))
    second = instances.start_instance(ctx, process_key="t", actor=SYSTEM)
    scheduler, jobs = _scheduler(ctx, paused, max_idle=3600)
    clock.advance(timedelta(minutes=31))
    jobs["timers"].run()
    assert instances.get_instance(ctx, first.id, actor=SYSTEM).status == "completed"
    assert instances.get_instance(ctx, second.id, actor=SYSTEM).status == "running"
    assert jobs["timers"].armed_for == next_timer_due(ctx, clock.now()) == clock.now() + timedelta(minutes=29)


def test_a_failing_round_still_re_arms(ctx, clock, paused):
    scheduler, jobs = _scheduler(ctx, paused)
    job = jobs["timers"]

    def broken(_now):
        raise RuntimeError("database went away")

    job.work = broken
    job.run()
    assert job.armed_for == clock.now() + timedelta(seconds=30)
