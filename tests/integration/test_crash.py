"""Crash safety: SIGKILL a worker at random points, 50 times; nothing is lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

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
from tests.support.engine import deploy

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50


def _crashy() -> bytes:
    return b.linear("crashy", b.user_task("first", candidateGroups="workers"),
                    b.script_task("calc", "total = n * 2"), b.user_task("second", candidateGroups="workers"))


@pytest.mark.slow
def test_sigkill_during_work_loses_and_duplicates_nothing(ctx, settings, db):
    identity.create_user(ctx, username="worker", roles=["staff"], groups=["workers"])
    deploy(ctx, ("crashy.bpmn", _crashy()))
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT), "CAREFLOW_DATA_KEY": settings.data_key}
    rng = random.Random(20261124)
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.crash_worker"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", proc.stderr.read()
        try:
            proc.wait(timeout=rng.uniform(0.02, 0.4))  # let it work, then kill it wherever it is
        except subprocess.TimeoutExpired:
            pass
        assert proc.returncode is None, proc.stderr.read()  # it must still be working, not crashed
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    fresh = build_engine(settings, db=db)  # a restarted process: nothing cached
    with Session(db) as session:
        rows = session.scalars(select(ProcessInstance)).all()
        assert len(rows) > KILLS  # the workers did real work between kills
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
