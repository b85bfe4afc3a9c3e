"""The scheduler stopped for three days catches up: every overdue timer fires exactly once.

And two schedulers against one PostgreSQL database never fire a timer or send a message twice.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from engine.care.scans import scan_birthdays
from engine.db.models import AuditEvent, ProcessInstance, Timer
from engine.outbox.dispatch import dispatch_due
from engine.outbox.models import OutboxMessage
from engine.services import instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.care import RecordingChannel, add_customers, customer, deploy_care
from tests.support.engine import deploy


def _timer_process(pid: str = "sleepy") -> bytes:
    # A timer, then a count of how many times the path after it ran.
    return b.linear(pid, b.timer_catch("wait", "duration", "delay"), b.script_task("count", "fired = fired + 1"))


def _start_many(ctx, n: int) -> list[str]:
    deploy(ctx, ("sleepy.bpmn", _timer_process()))
    return [instances.start_instance(ctx, process_key="sleepy", actor=SYSTEM,
                                     variables={"delay": f"PT{(i % 72) + 1}H", "fired": 0}).id for i in range(n)]


def _fired_counts(ctx) -> list[int]:
    with ctx.sessions() as session:
        events = session.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "timer.fired")).all()
        statuses = session.scalars(select(ProcessInstance.status)).all()
    per_instance: dict[str, int] = {}
    for subject in events:
        per_instance[subject] = per_instance.get(subject, 0) + 1
    assert set(statuses) == {"completed"}
    return sorted(per_instance.values())


def test_three_days_down_then_every_overdue_timer_fires_once(ctx, clock):
    ids = _start_many(ctx, 144)  # due every hour over the three days, two per hour
    clock.advance(timedelta(days=3, hours=1))  # the scheduler was down all that time
    first = fire_due_timers(ctx)
    again = fire_due_timers(ctx)
    assert (first.fired, again.fired) == (144, 0)
    assert _fired_counts(ctx) == [1] * len(ids)
    for instance_id in ids[:5]:
        view = instances.get_instance(ctx, instance_id, actor=SYSTEM)
        assert view.status == "completed"


@pytest.mark.postgres_only
@pytest.mark.slow
def test_two_schedulers_never_fire_or_send_twice(ctx, clock, is_postgres):
    if not is_postgres:
        pytest.skip("row locks with SKIP LOCKED are what this shows; SQLite serializes writers anyway")
    ids = _start_many(ctx, 200)
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    deploy_care(ctx, "birthday_care")
    add_customers(ctx, *[customer(f"C{i:03d}", date(1980, 3, 3)) for i in range(100)])
    scan_birthdays(ctx, date(2025, 3, 3))
    clock.advance(timedelta(days=3, hours=1))
    with ctx.sessions() as session:  # the 200 waits plus the greetings' two-day "no receipt" timers
        due = session.scalar(select(func.count()).select_from(Timer))
    assert due == len(ids) + 100
    barrier = threading.Barrier(2)
    results = []

    def scheduler() -> None:
        barrier.wait()
        results.append((fire_due_timers(ctx).fired, dispatch_due(ctx).sent))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r[0] for r in results) == due
    assert _fired_counts_timer_only(ctx) == [1] * due
    assert sum(r[1] for r in results) == 100 == len(sms.delivered) == sms.attempts
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == 100


def _fired_counts_timer_only(ctx) -> list[int]:
    with ctx.sessions() as session:
        events = session.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "timer.fired")).all()
    counts: dict[str, int] = {}
    for subject in events:
        counts[subject] = counts.get(subject, 0) + 1
    return sorted(counts.values())
