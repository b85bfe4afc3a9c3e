"""The scheduler only registers the sweep; the sweep itself is tested with a frozen clock."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler

from engine.scheduler import install_jobs, sweep_timers


def test_install_jobs_registers_the_timer_sweep(ctx):
    scheduler = BackgroundScheduler(timezone="UTC")
    install_jobs(scheduler, ctx, interval_seconds=2)
    [job] = scheduler.get_jobs()
    assert job.id == "timers.sweep" and job.func is sweep_timers and job.args == (ctx,)
    assert job.trigger.interval.total_seconds() == 2 and job.max_instances == 1
