"""Plain INSERT/UPDATE statements for the rows every engine step writes: the instance and its task rows.

Every start, completion, message and timer writes one instance row and a task row or two. Through the ORM's
unit of work (identity map, attribute history, dependency sort, a flush per object) that bookkeeping cost more
than the statements themselves, so these rows are written with statements built once, at once, in the caller's
transaction. The ORM stays in step: an instance object the session holds gets the written values as its
committed state (it is not dirty afterwards), and the optimistic ``revision`` check is the same as the ORM's
``version_id_col``: an UPDATE that finds another revision raises ConcurrentModificationError.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, RowMapping, Table, bindparam, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.db.models import (
    CANDIDATE_STATUS,
    TASK_COLUMNS,
    HumanTask,
    HumanTaskStatus,
    ProcessInstance,
    TaskCandidate,
    TaskRecord,
)
from engine.errors import ConcurrentModificationError, TaskNotFoundError

_INSTANCES = cast(Table, ProcessInstance.__table__)
_TASKS = cast(Table, HumanTask.__table__)
_CANDIDATES = cast(Table, TaskCandidate.__table__)

# What a step changes on an instance (the rest is set once, at start).
STEP_COLUMNS = ("state", "state_version", "status", "updated_at", "ended_at", "error_message", "error_task",
                "error_details", "audit_head")
_START_COLUMNS = ("id", "definition_id", "process_key", "business_key", "customer_id", "started_by", "started_at",
                  "revision", *STEP_COLUMNS)

_INSERT_INSTANCE = insert(_INSTANCES)
_UPDATE_INSTANCE = (update(_INSTANCES)
                    .where(_INSTANCES.c.id == bindparam("instance"), _INSTANCES.c.revision == bindparam("seen_revision"))
                    .values(revision=_INSTANCES.c.revision + 1, **{name: bindparam(name) for name in STEP_COLUMNS}))
_INSERT_TASK = insert(_TASKS)
_INSERT_CANDIDATE = insert(_CANDIDATES)
_OPEN_TASKS = select(_TASKS.c.id).where(_TASKS.c.instance_id == bindparam("instance"),
                                        _TASKS.c.status.in_((HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value)))
_END_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("task"))
             .values(status=bindparam("new_status"), completed_at=bindparam("at")))
_COMPLETE_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                  .values(status=HumanTaskStatus.COMPLETED.value, completed_at=bindparam("at"),
                          completed_by=bindparam("by")))
_TASK_ROW = select(_TASKS).where(_TASKS.c.id == bindparam("task"))
_INSTANCE_ROW = select(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance"))
_LOCK_INSTANCE_OF_TASK = (
    select(_INSTANCES)
    .where(_INSTANCES.c.id == select(_TASKS.c.instance_id).where(_TASKS.c.id == bindparam("task")).scalar_subquery())
    .with_for_update()
)
_ADVANCE_INSTANCE = (update(_INSTANCES)
                     .where(_INSTANCES.c.id == bindparam("instance"), _INSTANCES.c.revision == bindparam("seen_revision"))
                     .values(revision=_INSTANCES.c.revision + 1, audit_head=bindparam("new_head")))
_WRITE_ASSIGNMENT = (update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                     .values(status=bindparam("new_status"), assignee=bindparam("new_assignee"),
                             owner=bindparam("new_owner"), claimed_at=bindparam("new_claimed_at")))
_WRITE_PLANNING = (update(_TASKS).where(_TASKS.c.id == bindparam("task"))
                   .values(priority=bindparam("new_priority"), due_at=bindparam("new_due_at"),
                           follow_up_at=bindparam("new_follow_up_at")))


def insert_instance(session: Session, instance: ProcessInstance) -> None:
    """Insert a new instance (a transient object, not added to the session) at revision 1."""
    instance.revision = 1
    session.connection().execute(_INSERT_INSTANCE, {name: getattr(instance, name) for name in _START_COLUMNS})


def lock_instance_of_task(session: Session, task_id: uuid.UUID) -> tuple[RowMapping, TaskRecord]:
    """Lock the task's instance row first, then read the task (a concurrent claim is seen, not overwritten):
    (the instance's row, the task). Raises TaskNotFoundError."""
    locked = session.connection().execute(_LOCK_INSTANCE_OF_TASK, {"task": task_id}).mappings().one_or_none()
    task = task_row(session, task_id) if locked is not None else None
    if locked is None or task is None:
        raise TaskNotFoundError(f"no task {task_id}")
    return locked, task


def _check_advanced(result: CursorResult[Any]) -> None:
    if result.rowcount != 1:
        raise ConcurrentModificationError("the instance was changed by someone else; reload and retry")


def advance_instance(session: Session, instance_id: uuid.UUID, seen_revision: int, audit_head: str) -> None:
    """A step that changed task rows only (a claim, new dates): the instance's revision and audit head move on,
    if nobody saved the instance since ``seen_revision``."""
    _check_advanced(session.connection().execute(_ADVANCE_INSTANCE, {
        "instance": instance_id, "seen_revision": seen_revision, "new_head": audit_head}))


def update_instance(session: Session, instance: ProcessInstance) -> None:
    """Write a step's columns of ``instance`` if nobody saved it since it was read, and advance its revision."""
    values = {name: getattr(instance, name) for name in STEP_COLUMNS}
    seen = instance.revision
    _check_advanced(session.connection().execute(_UPDATE_INSTANCE, values | {"instance": instance.id,
                                                                                 "seen_revision": seen}))
    if inspect(instance).persistent:
        # The session's object now matches the row: committed, not dirty, so no second UPDATE at commit.
        for name, value in values.items():
            set_committed_value(instance, name, value)
        set_committed_value(instance, "revision", seen + 1)
    else:
        instance.revision = seen + 1


def insert_task(session: Session, task: TaskRecord) -> None:
    """Insert a new task row and its candidate rows, which take the task's status and creation time."""
    connection = session.connection()
    # The columns given a value; the columns' defaults fill the others, as the unit of work would.
    values = {name: value for name in TASK_COLUMNS if (value := getattr(task, name)) is not None}
    connection.execute(_INSERT_TASK, values)
    connection.execute(_INSERT_CANDIDATE, [
        {"task_id": task.id, "kind": kind, "name": name, "status": task.status, "created_at": task.created_at}
        for kind, name in task.candidates
    ])


def open_task_ids(session: Session, instance_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.connection().execute(_OPEN_TASKS, {"instance": instance_id}).scalars())


def end_tasks(session: Session, task_ids: Iterable[uuid.UUID], status: str, at: datetime) -> None:
    """Close task rows without a completion (cancelled: a boundary event, a cancel, a gateway that moved on)."""
    connection = session.connection()
    for task_id in task_ids:
        connection.execute(_END_TASK, {"task": task_id, "new_status": status, "at": at})
        connection.execute(CANDIDATE_STATUS, {"task": task_id, "status": status})


def write_assignment(session: Session, task: TaskRecord, *, status_changed: bool) -> None:
    """Write a task's status, assignee, owner and claim time (and its candidate rows' status when it changed)."""
    connection = session.connection()
    connection.execute(_WRITE_ASSIGNMENT, {"task": task.id, "new_status": task.status, "new_assignee": task.assignee,
                                           "new_owner": task.owner, "new_claimed_at": task.claimed_at})
    if status_changed:
        connection.execute(CANDIDATE_STATUS, {"task": task.id, "status": task.status})


def write_planning(session: Session, task: TaskRecord) -> None:
    """Write a task's priority, due time and follow-up date."""
    session.connection().execute(_WRITE_PLANNING, {"task": task.id, "new_priority": task.priority,
                                                   "new_due_at": task.due_at, "new_follow_up_at": task.follow_up_at})


def complete_task(session: Session, task_id: uuid.UUID, by: str, at: datetime) -> None:
    connection = session.connection()
    connection.execute(_COMPLETE_TASK, {"task": task_id, "by": by, "at": at})
    connection.execute(CANDIDATE_STATUS, {"task": task_id, "status": HumanTaskStatus.COMPLETED.value})


def task_row(session: Session, task_id: uuid.UUID) -> TaskRecord | None:
    """The task as a plain record, not in the session (nothing is written back from it)."""
    row = session.connection().execute(_TASK_ROW, {"task": task_id}).mappings().one_or_none()
    return TaskRecord(**row) if row is not None else None


def instance_row(session: Session, instance_id: uuid.UUID) -> ProcessInstance | None:
    """The instance as a plain object, not in the session, for reading (no lock)."""
    row = session.connection().execute(_INSTANCE_ROW, {"instance": instance_id}).mappings().one_or_none()
    return ProcessInstance(**row) if row is not None else None
