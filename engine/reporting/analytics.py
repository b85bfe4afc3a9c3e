"""Process analytics per process version: instance counts, cycle-time percentiles, time per activity, waits.

- **Instances**: started in the period (``ix_process_instance_definition_started``), by status.
- **Cycle time**: ``ended_at − started_at`` of the instances that completed in the period
  (``ix_process_instance_definition_ended``); percentiles are discrete (nearest rank: the smallest value
  with at least p of the values at or below it, PostgreSQL's ``percentile_disc``), in seconds.
- **Time per activity**: mean ``completed_at − created_at`` of the version's user tasks completed in
  the period. (The designer's heatmap, ``engine.services.designer.heatmap``, shows every element kind from the
  activity history, with means and 90th percentiles, on the diagram; the analytics page links to it rather than
  repeating its query.)
- **Waits**: the version's tasks open now, per activity: how many, their mean and longest age — where
  instances wait longest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from engine.db.models import HumanTask, HumanTaskStatus, InstanceStatus, ProcessDefinition, ProcessInstance
from engine.reporting.kpis import OPEN, _count
from engine.reporting.scope import Scope, Sql

PERCENTILES = (0.5, 0.9, 0.95)


@dataclass(frozen=True)
class VersionStat:
    version: int
    started: int
    running: int
    completed: int
    failed: int
    cancelled: int
    ended_in_period: int
    p50_seconds: float | None
    p90_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class ActivityTime:
    task_name: str
    completed: int
    avg_seconds: float | None


@dataclass(frozen=True)
class Wait:
    task_name: str
    open: int
    avg_age_seconds: float
    max_age_seconds: float


def nearest_rank(values: list[float], p: float) -> float | None:
    """The smallest value with at least a share ``p`` of the values at or below it (``percentile_disc``)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def versions(session: Session, key: str) -> list[tuple[int, int]]:
    """(definition id, version) of every version of ``key``, newest first."""
    rows = session.execute(select(ProcessDefinition.id, ProcessDefinition.version)
                           .where(ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc()))
    return [(int(i), int(v)) for i, v in rows]


def _cycle_percentiles(session: Session, scope: Scope, definition_id: int) -> tuple[int, list[float | None]]:
    sql = Sql(session, scope)
    seconds = cast(sql.seconds(ProcessInstance.ended_at, ProcessInstance.started_at), Float)
    where = [ProcessInstance.definition_id == definition_id, *scope.in_period(ProcessInstance.ended_at),
             ProcessInstance.status == InstanceStatus.COMPLETED.value]
    if sql.sqlite:
        values = [float(v) for v in session.scalars(select(seconds).where(*where))]
        return len(values), [nearest_rank(values, p) for p in PERCENTILES]
    row = session.execute(select(func.count(), *(func.percentile_disc(p).within_group(seconds) for p in PERCENTILES))
                          .where(*where)).one()
    return int(row[0]), [None if v is None else float(v) for v in row[1:]]


def version_stats(session: Session, scope: Scope, key: str) -> tuple[VersionStat, ...]:
    """Per version of ``key``, newest first: instances started in the period by status, cycle-time percentiles."""
    stats = []
    for definition_id, version in versions(session, key):
        status = ProcessInstance.status
        started, running, completed, failed, cancelled = session.execute(
            select(func.count(), _count(status == InstanceStatus.RUNNING.value),
                   _count(status == InstanceStatus.COMPLETED.value), _count(status == InstanceStatus.ERROR.value),
                   _count(status == InstanceStatus.CANCELLED.value))
            .where(ProcessInstance.definition_id == definition_id, *scope.in_period(ProcessInstance.started_at))).one()
        ended, (p50, p90, p95) = _cycle_percentiles(session, scope, definition_id)
        stats.append(VersionStat(version, int(started), int(running), int(completed), int(failed), int(cancelled),
                                 ended, _round(p50), _round(p90), _round(p95)))
    return tuple(stats)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _of_version(query: Any, definition_id: int) -> Any:
    return query.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(
        ProcessInstance.definition_id == definition_id)


def activity_times(session: Session, scope: Scope, key: str, definition_id: int) -> tuple[ActivityTime, ...]:
    sql = Sql(session, scope)
    seconds = cast(sql.seconds(HumanTask.completed_at, HumanTask.created_at), Float)
    query = _of_version(select(HumanTask.task_name, func.count(), func.avg(seconds))
                        .where(HumanTask.process_key == key, *scope.in_period(HumanTask.completed_at),
                               HumanTask.status == HumanTaskStatus.COMPLETED.value), definition_id)
    rows = session.execute(query.group_by(HumanTask.task_name).order_by(HumanTask.task_name))
    return tuple(ActivityTime(str(t), int(n), _round(float(a)) if a is not None else None) for t, n, a in rows)


def waits(session: Session, scope: Scope, key: str, definition_id: int) -> tuple[Wait, ...]:
    """The version's open tasks per activity, longest mean wait first."""
    sql = Sql(session, scope)
    query = _of_version(select(HumanTask.task_name, func.count(), func.min(HumanTask.created_at),
                               _avg_created(sql))
                        .where(HumanTask.status.in_(OPEN), HumanTask.process_key == key), definition_id)
    rows = session.execute(query.group_by(HumanTask.task_name)).all()
    now = scope.now
    result = []
    for name, count, oldest, mean_epoch in rows:
        result.append(Wait(str(name), int(count), round(now.timestamp() - float(mean_epoch), 1),
                           round((now - oldest).total_seconds(), 1)))
    return tuple(sorted(result, key=lambda w: (-w.avg_age_seconds, w.task_name)))


def _avg_created(sql: Sql) -> Any:
    """Mean creation time as Unix seconds (mean age = now − this)."""
    if sql.sqlite:
        return func.avg((func.julianday(HumanTask.created_at) - 2440587.5) * 86400.0)
    return func.avg(func.extract("epoch", HumanTask.created_at))
