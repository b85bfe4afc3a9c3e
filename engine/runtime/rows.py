"""The one way engine rows are read and written: plain statements, built once, for the instance and its tasks.

Every start, completion, message and timer reads and writes one instance row and a task row or two. Through
the ORM's unit of work (identity map, attribute history, dependency sort, a flush per object) that
bookkeeping cost more than the statements themselves, so these rows are plain objects written with
statements, at once, in the caller's transaction (``engine.runtime.step``). Every write to an instance row
checks and advances its ``revision``: an UPDATE that finds another revision raises
ConcurrentModificationError.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, insert, or_, select, update
from sqlalchemy.orm import Session

from engine.db.bulk import gathering
from engine.db.models import (
    INSTANCE_COLUMNS,
    TASK_COLUMNS,
    HumanTask,
    HumanTaskStatus,
    InstanceRecord,
    ProcessInstance,
    TaskCandidate,
    TaskRecord,
)
from engine.db.prepared import Prepared
from engine.errors import ConcurrentModificationError, TaskNotFoundError

_INSTANCES = cast(Table, ProcessInstance.__table__)
_TASKS = cast(Table, HumanTask.__table__)
_CANDIDATES = cast(Table, TaskCandidate.__table__)

# What a step changes on an instance (the rest is set once, at start; a migration moves the definition).
STEP_COLUMNS = ("definition_id", "state", "state_version", "status", "updated_at", "ended_at", "error_message",
                "error_task", "error_details", "audit_head")
_START_COLUMNS = ("id", "process_key", "business_key", "customer_id", "started_by", "started_at",
                  "revision", *STEP_COLUMNS)

_INSERT_INSTANCE = Prepared(insert(_INSTANCES))
_UPDATE_INSTANCE = Prepared(update(_INSTANCES)
                    .where(_INSTANCES.c.id == bindparam("instance"), _INSTANCES.c.revision == bindparam("seen_revision"))
                    .values(revision=_INSTANCES.c.revision + 1, **{name: bindparam(name) for name in STEP_COLUMNS}))
_INSERT_TASK = Prepared(insert(_TASKS))
_INSERT_CANDIDATE = Prepared(insert(_CANDIDATES))
# A task's candidate rows carry its status (the queue query reads them without a join): kept in step here.
_CANDIDATE_STATUS = Prepared(update(_CANDIDATES).where(_CANDIDATES.c.task_id == bindparam("task"))
                             .values(status=bindparam("status")))
# (Two comparisons rather than IN: an IN list expands per execution, which a prepared statement cannot.)
_OPEN_TASKS = Prepared(select(_TASKS.c.id).where(_TASKS.c.instance_id == bindparam("instance"), or_(
    _TASKS.c.status == HumanTaskStatus.OPEN.value, _TASKS.c.status == HumanTaskStatus.CLAIMED.value)))
_END_TASK = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
             .values(status=bindparam("new_status"), completed_at=bindparam("at")))
_COMPLETE_TASK = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                  .values(status=HumanTaskStatus.COMPLETED.value, completed_at=bindparam("at"),
                          completed_by=bindparam("by")))
_TASK_ROW_QUERY = select(_TASKS).where(_TASKS.c.id == bindparam("task"))
_TASK_ROW, _LOCK_TASK = Prepared(_TASK_ROW_QUERY), Prepared(_TASK_ROW_QUERY.with_for_update())
_WRITE_SLA = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
              .values(priority=bindparam("new_priority"), due_at=bindparam("new_due_at"),
                      sla_warn_at=bindparam("new_warn_at"), sla_paused_at=bindparam("new_paused_at"),
                      sla_breached_at=bindparam("new_breached_at")))
_FLAG_BREACH = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                .values(sla_breached_at=_TASKS.c.due_at,
                        priority=case((_TASKS.c.priority < bindparam("at_least"), bindparam("at_least")),
                                      else_=_TASKS.c.priority)))
_RAISE_PRIORITY = Prepared(update(_TASKS)
                   .where(_TASKS.c.instance_id == bindparam("instance"),
                          _TASKS.c.status.in_((HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value)),
                          _TASKS.c.priority < bindparam("at_least"))
                   .values(priority=bindparam("at_least")))
_INSTANCE_ROW_QUERY = select(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance"))
# A task and its instance in one statement: the instance's columns under their names, the task's as ``task_<name>``.
# Locking (PostgreSQL) takes both rows, the instance's first (its table comes first in FROM, as every step locks
# it first): a row lock re-reads only the rows it locks, so the task row must be one of them to be seen as a
# concurrent claim or completion left it.
_TASK_LABELS = tuple(f"task_{name}" for name in TASK_COLUMNS)
_TASK_AND_INSTANCE = (select(_INSTANCES, *(_TASKS.c[name].label(label) for name, label in zip(TASK_COLUMNS, _TASK_LABELS,
                                                                                                strict=True)))
                      .select_from(_INSTANCES.join(_TASKS, _TASKS.c.instance_id == _INSTANCES.c.id))
                      .where(_TASKS.c.id == bindparam("task")))
_READ_TASK = {False: Prepared(_TASK_AND_INSTANCE), True: Prepared(_TASK_AND_INSTANCE.with_for_update())}
_INSTANCE_ROW = Prepared(_INSTANCE_ROW_QUERY)
_READ_INSTANCE = {None: _INSTANCE_ROW, "wait": Prepared(_INSTANCE_ROW_QUERY.with_for_update()),
                  "skip": Prepared(_INSTANCE_ROW_QUERY.with_for_update(skip_locked=True))}
_MARK_FAILED = Prepared(update(_INSTANCES)
                .where(_INSTANCES.c.id == bindparam("instance"), _INSTANCES.c.revision == bindparam("seen_revision"))
                .values(revision=_INSTANCES.c.revision + 1, status="error", error_message=bindparam("message"),
                        error_task=None, error_details=bindparam("details"), updated_at=bindparam("at"),
                        audit_head=bindparam("new_head")))
_ADVANCE_INSTANCE = Prepared(update(_INSTANCES)
                     .where(_INSTANCES.c.id == bindparam("instance"), _INSTANCES.c.revision == bindparam("seen_revision"))
                     .values(revision=_INSTANCES.c.revision + 1, audit_head=bindparam("new_head")))
_WRITE_ASSIGNMENT = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                     .values(status=bindparam("new_status"), assignee=bindparam("new_assignee"),
                             owner=bindparam("new_owner"), claimed_at=bindparam("new_claimed_at")))
_WRITE_PRESENTATION = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                       .values(title=bindparam("new_title"), form_key=bindparam("new_form_key"),
                               lane=bindparam("new_lane")))
_WRITE_PLANNING = Prepared(update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                   .values(priority=bindparam("new_priority"), due_at=bindparam("new_due_at"),
                           follow_up_at=bindparam("new_follow_up_at")))


def insert_instance(session: Session, instance: InstanceRecord) -> None:
    """Insert a new instance (a transient object, not added to the session) at revision 1."""
    instance.revision = 1
    values = {name: getattr(instance, name) for name in _START_COLUMNS}
    later = gathering(session)
    if later is not None:  # a bulk start: sent before anything that refers to it (engine.db.bulk)
        later.add(_INSERT_INSTANCE.statement, [values])
    else:
        _INSERT_INSTANCE.execute(session.connection(), values)


def read_task(session: Session, task_id: uuid.UUID, *, lock: str | None = None) -> tuple[InstanceRecord, TaskRecord]:
    """The task's instance row and the task, read (and locked when ``lock`` is "wait", so a concurrent claim is seen,
    not overwritten) in one statement, as plain objects. Raises TaskNotFoundError."""
    rows = _READ_TASK[bool(lock)].rows(session.connection(), {"task": task_id})
    if not rows:
        raise TaskNotFoundError(f"no task {task_id}")
    found, split = rows[0], len(INSTANCE_COLUMNS)
    return (InstanceRecord(**dict(zip(INSTANCE_COLUMNS, found[:split], strict=True))),
            TaskRecord(**dict(zip(TASK_COLUMNS, found[split:], strict=True))))


def read_instance(session: Session, instance_id: uuid.UUID, *, lock: str | None = None) -> InstanceRecord | None:
    """The instance as a plain object; ``lock`` "wait" locks its row, "skip" returns None when another
    transaction holds it (PostgreSQL; SQLite has no row locks and ignores both)."""
    return _instance(_READ_INSTANCE[lock].rows(session.connection(), {"instance": instance_id}))


def _instance(rows: list[tuple[Any, ...]]) -> InstanceRecord | None:
    return InstanceRecord(**dict(zip(INSTANCE_COLUMNS, rows[0], strict=True))) if rows else None


def _task(rows: list[tuple[Any, ...]]) -> TaskRecord | None:
    return TaskRecord(**dict(zip(TASK_COLUMNS, rows[0], strict=True))) if rows else None


def mark_failed(session: Session, instance_id: uuid.UUID, seen_revision: int, *, message: str, error_type: str,
                at: datetime, audit_head: str) -> None:
    """An incident: the instance goes to ``error`` with ``message``, its stored state untouched."""
    _MARK_FAILED.execute_checked(session.connection(), {
        "instance": instance_id, "seen_revision": seen_revision, "message": message, "at": at,
        "details": {"task_id": None, "line": None, "error_type": error_type, "phase": "store"},
        "new_head": audit_head}, _conflict)


def _conflict() -> ConcurrentModificationError:
    return ConcurrentModificationError("the instance was changed by someone else; reload and retry")


def advance_instance(session: Session, instance_id: uuid.UUID, seen_revision: int, audit_head: str) -> None:
    """A step that changed task rows only (a claim, new dates): the instance's revision and audit head move on,
    if nobody saved the instance since ``seen_revision``."""
    _ADVANCE_INSTANCE.execute_checked(session.connection(), {
        "instance": instance_id, "seen_revision": seen_revision, "new_head": audit_head}, _conflict)


def update_instance(session: Session, instance: InstanceRecord, seen_revision: int) -> None:
    """Write a step's columns of ``instance`` (a plain object) if nobody stored it since ``seen_revision``, and
    advance its revision. Raises ConcurrentModificationError (in a pipelined block: when the block's results are
    in, ``engine.db.pipeline``)."""
    values = {name: getattr(instance, name) for name in STEP_COLUMNS}
    _UPDATE_INSTANCE.execute_checked(session.connection(), values | {"instance": instance.id,
                                                                     "seen_revision": seen_revision}, _conflict)
    instance.revision = seen_revision + 1


def insert_task(session: Session, task: TaskRecord) -> None:
    """Insert a new task row and its candidate rows, which take the task's status and creation time."""
    connection = session.connection()
    # The columns given a value; the columns' defaults fill the others, as the unit of work would.
    values = {name: value for name in TASK_COLUMNS if (value := getattr(task, name)) is not None}
    _INSERT_TASK.execute(connection, values)
    candidates = [{"task_id": task.id, "kind": kind, "name": name, "status": task.status, "created_at": task.created_at}
                  for kind, name in task.candidates]
    if len(candidates) == 1:
        _INSERT_CANDIDATE.execute(connection, candidates[0])
    else:
        connection.execute(_INSERT_CANDIDATE.statement, candidates)


def open_task_ids(session: Session, instance_id: uuid.UUID) -> list[uuid.UUID]:
    return [row[0] for row in _OPEN_TASKS.rows(session.connection(), {"instance": instance_id})]


def end_tasks(session: Session, task_ids: Iterable[uuid.UUID], status: str, at: datetime) -> None:
    """Close task rows without a completion (cancelled: a boundary event, a cancel, a gateway that moved on)."""
    connection = session.connection()
    for task_id in task_ids:
        _END_TASK.execute(connection, {"task": task_id, "new_status": status, "at": at})
        _CANDIDATE_STATUS.execute(connection, {"task": task_id, "status": status})


def write_assignment(session: Session, task: TaskRecord, *, status_changed: bool) -> None:
    """Write a task's status, assignee, owner and claim time (and its candidate rows' status when it changed)."""
    connection = session.connection()
    _WRITE_ASSIGNMENT.execute(connection, {"task": task.id, "new_status": task.status, "new_assignee": task.assignee,
                                           "new_owner": task.owner, "new_claimed_at": task.claimed_at})
    if status_changed:
        _CANDIDATE_STATUS.execute(connection, {"task": task.id, "status": task.status})


def write_planning(session: Session, task: TaskRecord) -> None:
    """Write a task's priority, due time and follow-up date."""
    _WRITE_PLANNING.execute(session.connection(), {"task": task.id, "new_priority": task.priority,
                                                   "new_due_at": task.due_at, "new_follow_up_at": task.follow_up_at})


def write_presentation(session: Session, task_id: uuid.UUID, *, title: str, form_key: str | None,
                       lane: str | None) -> None:
    """Write how an open task shows (its title, form and lane: a migration to another version)."""
    _WRITE_PRESENTATION.execute(session.connection(), {"task": task_id, "new_title": title, "new_form_key": form_key,
                                                       "new_lane": lane})


def complete_task(session: Session, task_id: uuid.UUID, by: str, at: datetime) -> None:
    connection = session.connection()
    _COMPLETE_TASK.execute(connection, {"task": task_id, "by": by, "at": at})
    _CANDIDATE_STATUS.execute(connection, {"task": task_id, "status": HumanTaskStatus.COMPLETED.value})


def lock_task(session: Session, task_id: uuid.UUID) -> TaskRecord | None:
    """The task as a plain record, its row locked (a change to the task alone: its SLA clock)."""
    return _task(_LOCK_TASK.rows(session.connection(), {"task": task_id}))


def write_sla(session: Session, task: TaskRecord) -> None:
    """Write a task's SLA clock: due and warning times, pause and breach marks, and its priority."""
    _WRITE_SLA.execute(session.connection(), {
        "task": task.id, "new_priority": task.priority, "new_due_at": task.due_at, "new_warn_at": task.sla_warn_at,
        "new_paused_at": task.sla_paused_at, "new_breached_at": task.sla_breached_at})


def flag_breach(session: Session, task_id: uuid.UUID, at_least: int) -> None:
    """Mark the task's SLA breached (at its due time) and raise its priority to ``at_least``."""
    _FLAG_BREACH.execute(session.connection(), {"task": task_id, "at_least": at_least})


def raise_priority(session: Session, instance_id: uuid.UUID, at_least: int) -> None:
    """Raise the priority of the instance's open tasks to ``at_least`` (a case whose clock is running out)."""
    _RAISE_PRIORITY.execute(session.connection(), {"instance": instance_id, "at_least": at_least})


def task_row(session: Session, task_id: uuid.UUID) -> TaskRecord | None:
    """The task as a plain record, not in the session (nothing is written back from it)."""
    return _task(_TASK_ROW.rows(session.connection(), {"task": task_id}))


def instance_row(session: Session, instance_id: uuid.UUID) -> InstanceRecord | None:
    """The instance as a plain object, not in the session, for reading (no lock)."""
    return _instance(_INSTANCE_ROW.rows(session.connection(), {"instance": instance_id}))
