"""Crash safety: SIGKILL a worker at random points, 50 times; nothing is lost or doubled."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import build_engine
from engine.db.models import AuditEvent, HumanTask, ProcessInstance
from engine.runtime import instance as runtime
from engine.runtime.projection import OPEN_STATES, ready_human_tasks
from engine.services import identity
from tests.support import bpmn as b
from tests.support import crash_worker
from tests.support.engine import deploy

KILLS = 50


def _crashy() -> bytes:
    return b.linear("crashy", b.user_task("first", candidateGroups="workers"),
                    b.script_task("calc", "total = n * 2"), b.user_task("second", candidateGroups="workers"))


@pytest.mark.slow
def test_sigkill_during_work_loses_and_duplicates_nothing(ctx, settings, db):
    identity.create_user(ctx, username="worker", roles=["staff"], groups=["workers"])
    deploy(ctx, ("crashy.bpmn", _crashy()))
    rng = random.Random(20261124)
    # Children forked from a single-threaded server that has imported the worker once: no interpreter start-up
    # per kill, and none of this (multi-threaded) test process's locks copied into a child.
    forks = multiprocessing.get_context("forkserver")
    forks.set_forkserver_preload(["tests.support.crash_worker"])
    for _ in range(KILLS):
        ready = forks.Event()
        proc = forks.Process(target=crash_worker.work_in_fork, args=(settings, ready), daemon=True)
        proc.start()
        assert ready.wait(timeout=60), f"the worker did not start (exit code {proc.exitcode})"
        proc.join(timeout=rng.uniform(0.02, 0.4))  # let it work, then kill it wherever it is
        assert proc.exitcode is None, f"the worker ended by itself with {proc.exitcode}"  # still working
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        proc.close()

    fresh = build_engine(settings, db=db)  # a restarted process: nothing cached
    with Session(db) as session:
        rows = session.scalars(select(ProcessInstance)).all()
        # The workers did real work between kills: committed steps (starts and completions) beyond the one start
        # each worker makes before it says it is ready, at least one per kill window on average.
        steps = len(rows) + session.scalar(select(func.count()).where(HumanTask.status == "completed"))
        assert steps - KILLS > KILLS, f"{len(rows)} instances, {steps} steps"
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
