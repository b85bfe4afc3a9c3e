"""What the crash and multi-node tests share: the process they run, the scheduler children they kill, and the
checks that nothing was lost or doubled afterwards."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.db.models import AuditEvent, HumanTask, ProcessInstance, Timer
from engine.outbox.models import OutboxMessage
from engine.runtime import instance as runtime
from engine.runtime.projection import OPEN_STATES, ready_human_tasks
from tests.support import bpmn as b
from tests.support import crash_worker


def flow() -> bytes:
    """A task, a short timer (fired by a scheduler), a message (sent by a scheduler), another task."""
    return b.linear("flow", b.user_task("first", candidateGroups="workers"), b.timer_catch("wait", "duration", '"PT0.2S"'),
                    b.service_task("greet", "careflow.notify", "greeting", template="'birthday_greeting'",
                                   customer_id="customer_id"),
                    b.user_task("second", candidateGroups="workers"))


def child_settings(settings: Any) -> Any:
    # Real time in the children: messages at any hour and without a daily cap, a lease that runs out within the test,
    # heartbeats fast enough that a killed scheduler is reported within it.
    return replace(settings, contact=replace(settings.contact, window=("00:00", "24:00"), cap_service_per_day=10**6),
                   outbox=replace(settings.outbox, lease_seconds=2),
                   scheduler=replace(settings.scheduler, heartbeat_seconds=0.2, stale_seconds=1.0))


class Children:
    """Worker and scheduler processes forked from one forkserver; kill -9 or start one."""

    def __init__(self, settings: Any, deliveries: str, *, customers: int = 0, pace: float = 0.1) -> None:
        self.settings, self.deliveries, self.customers, self.pace = settings, deliveries, customers, pace
        self.forks = multiprocessing.get_context("forkserver")
        self.forks.set_forkserver_preload(["tests.support.crash_worker"])
        self.workers: list[Any] = []
        self.schedulers: list[Any] = []
        self.killed_schedulers: list[int] = []

    def _spawn(self, target: Any, args: tuple[Any, ...]) -> tuple[Any, Any]:
        ready = self.forks.Event()
        proc = self.forks.Process(target=target, args=(self.settings, ready, *args), daemon=True)
        proc.start()
        return proc, ready

    def replace(self, workers: int = 1, schedulers: int = 1) -> None:
        """Start new children side by side and wait until each is working."""
        spawned = [(self.workers, *self._spawn(crash_worker.work_in_fork, ("flow", self.customers, self.pace)))
                   for _ in range(workers)]
        spawned += [(self.schedulers, *self._spawn(crash_worker.schedule_in_fork, (self.deliveries,)))
                    for _ in range(schedulers)]
        for group, proc, ready in spawned:
            assert ready.wait(timeout=120), f"a child did not start (exit code {proc.exitcode})"
            group.append(proc)

    @staticmethod
    def kill(proc: Any) -> None:
        assert proc.exitcode is None, f"a child ended by itself with {proc.exitcode}"  # it was still working
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        proc.close()

    def kill_worker(self, index: int) -> None:
        self.kill(self.workers.pop(index))

    def kill_scheduler(self, index: int) -> None:
        proc = self.schedulers.pop(index)
        self.killed_schedulers.append(proc.pid)
        self.kill(proc)


def settled(db: Any) -> bool:
    """No timer waits and no message is unsent."""
    with Session(db) as session:
        timers = session.scalar(select(func.count()).select_from(Timer))
        open_messages = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_(("pending", "sending"))))
    return timers == 0 and open_messages == 0


def check_instances(session: Session, fresh: Any) -> tuple[int, int]:
    """Every instance's task rows match its restored workflow, its status matches, its audit chain verifies, and
    each completion and start is audited exactly once. Returns (instances, completions)."""
    rows = session.scalars(select(ProcessInstance)).all()
    for row in rows:
        workflow = runtime.restore(fresh, session, row, fresh.clock)
        ready = {t.id for t in ready_human_tasks(workflow)}
        open_rows = set(session.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == row.id, HumanTask.status.in_(OPEN_STATES))))
        assert open_rows == ready, f"instance {row.id}: rows {open_rows} != spiff {ready}"
        assert row.status == ("completed" if workflow.is_completed() else "running")
        assert audit.verify_stream(session, f"instance:{row.id}").ok
    completions = session.scalar(select(func.count()).where(AuditEvent.action == "task.complete"))
    completed_rows = session.scalar(select(func.count()).where(HumanTask.status == "completed"))
    starts = session.scalar(select(func.count()).where(AuditEvent.action == "instance.started"))
    assert completions == completed_rows and starts == len(rows)
    return len(rows), completions


def check_timers_and_messages(session: Session, deliveries: str) -> tuple[int, int, int]:
    """Each timer of the flow fired once, each message was queued once and sent, and the channel got every sent
    message (a re-send carries its idempotency key). Returns (timers fired, messages, re-sends)."""
    fired = session.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "timer.fired")).all()
    assert len(fired) == len(set(fired)), "a timer fired twice"
    firsts = session.scalar(select(func.count()).where(HumanTask.task_name == "first", HumanTask.status == "completed"))
    assert len(fired) == firsts, "a timer was lost: an instance waits after its first task"
    messages = session.scalars(select(OutboxMessage)).all()
    assert {m.status for m in messages} <= {"sent"} and len(messages) == firsts
    sent_keys = [m.idempotency_key for m in messages]
    delivered = Path(deliveries).read_text().split() if Path(deliveries).exists() else []
    assert set(delivered) == set(sent_keys), "a message was lost or one never queued was sent"
    return len(fired), len(sent_keys), len(delivered) - len(set(delivered))
