"""SLAs: due on working days (调休 respected), warning share, breach flagged once and kept, pause moves the due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import InvalidTransitionError, PermissionDeniedError
from engine.services import instances, sla, tasks
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


def _start(ctx, **props):
    props.setdefault("candidateGroups", "service_team")
    deploy(ctx, ("sla.bpmn", b.linear("sla", b.user_task("work", "Work", **props))))
    started = instances.start_instance(ctx, process_key="sla", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    return task


def test_working_days_skip_the_national_day_break(ctx, clock):
    clock.set(datetime(2026, 9, 30, 2, 0, tzinfo=UTC))  # Wed 30 Sep 10:00 Shanghai; 1–7 Oct off, 10 Oct (Sat) worked
    task = _start(ctx, dueInWorkdays="2")
    assert task.due_at == datetime(2026, 10, 9, 2, 0, tzinfo=UTC)  # 8 Oct, 9 Oct: the second working day
    assert task.sla_warn_at == clock.now() + (task.due_at - clock.now()) * 0.8


def test_breach_is_flagged_once_escalated_and_kept(ctx, clock, people):
    task = _start(ctx, dueIn="PT4H", priority="40")
    clock.advance(timedelta(hours=3))
    assert sla.sweep_breaches(ctx) == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert sla.sweep_breaches(ctx) == 1
    assert sla.sweep_breaches(ctx) == 0
    view = tasks.get_task(ctx, task.id, actor=people["sam"])
    assert (view.sla_breached_at, view.priority) == (task.due_at, 90)
    [row] = sla.sla_board(ctx, actor=people["sam"])
    assert (row.process_key, row.open, row.breached) == ("sla", 1, 1)
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    sla.pause_sla(ctx, task.id, actor=people["alice"], reason="等待客户补充材料")
    assert tasks.get_task(ctx, task.id, actor=people["alice"]).sla_breached_at == task.due_at  # stays flagged


def test_pause_stops_the_clock_and_resume_moves_the_due_time(ctx, clock, people):
    task = _start(ctx, dueIn="P1D")
    tasks.claim_task(ctx, task.id, actor=people["alice"])
    assert "pause" in tasks.get_task(ctx, task.id, actor=people["alice"]).actions
    with pytest.raises(PermissionDeniedError):
        sla.pause_sla(ctx, task.id, actor=people["bob"], reason="not mine")
    clock.advance(timedelta(hours=20))
    sla.pause_sla(ctx, task.id, actor=people["alice"], reason="等待客户补充材料")
    with pytest.raises(InvalidTransitionError):
        sla.pause_sla(ctx, task.id, actor=people["alice"], reason="again")
    clock.advance(timedelta(days=3))
    assert sla.sweep_breaches(ctx) == 0  # paused: no breach
    sla.resume_sla(ctx, task.id, actor=people["alice"])
    resumed = tasks.get_task(ctx, task.id, actor=people["alice"])
    assert resumed.due_at == task.due_at + timedelta(days=3) and resumed.sla_paused_at is None
    assert "pause" in resumed.actions
    clock.advance(timedelta(hours=4, seconds=1))
    assert sla.sweep_breaches(ctx) == 1
