"""Activity history, recorded by the workflow step: which BPMN elements a step entered and left, and when.

The step takes a :func:`snapshot` of the task states when it restores the workflow (an empty one for a new
instance); once its engine steps have run, :func:`changes` compares the states with it and :func:`record` writes
the difference with one statement (an ``INSERT … ON CONFLICT DO UPDATE`` run once for all the rows, keyed by the
SpiffWorkflow task id), in the step's write transaction, at the step's clock time. A step that moved nothing
issues no statement.

What counts, per task of a BPMN element (``engine.db.history``):

- **Activities and events** (user, manual, service, script, business-rule, send and receive tasks, call
  activities, sub-processes, start/intermediate/end events): a row opens when the task becomes WAITING, READY or
  STARTED, and closes when it becomes COMPLETED, CANCELLED or ERROR (the outcome). One entered and left within the
  same step is one row with equal times. A task that was only predicted and is cancelled was never entered: no row.
  A retried task (ERROR → READY) reopens its row: its duration runs from its first start to its completion.
- **Gateways and boundary events** are points: a row (start = end) when one is passed or fires, none while a join
  waits for its other branches or a boundary event is armed (SpiffWorkflow replaces those waiting tasks, so they
  would count twice).
- **Multi-instance and loop activities**: one row per instance or iteration (the inner tasks), none for the body.
- A task that was open and is gone from the workflow (a migration re-predicted its branch) is closed as cancelled;
  a cancelled instance whose state cannot be restored closes its open rows with :func:`close_open`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.bpmn.workflow import CareflowWorkflow
from engine.db.bulk import gathering
from engine.db.history import ActivityHistory, ActivityOutcome
from engine.db.prepared import Prepared

_TABLE = cast(Table, ActivityHistory.__table__)
OPEN = TaskState.WAITING | TaskState.READY | TaskState.STARTED
_OUTCOMES = {TaskState.COMPLETED: ActivityOutcome.COMPLETED, TaskState.CANCELLED: ActivityOutcome.CANCELLED,
             TaskState.ERROR: ActivityOutcome.ERROR}

# SpiffWorkflow's spec classes (and CareFlow's subclasses of them) → the BPMN element they run.
KINDS = {
    "UserTask": "userTask", "ManualTask": "manualTask", "NoneTask": "task", "ScriptTask": "scriptTask",
    "ServiceTask": "serviceTask", "BusinessRuleTask": "businessRuleTask", "SendTask": "sendTask",
    "ReceiveTask": "receiveTask", "CallActivity": "callActivity", "TransactionSubprocess": "transaction",
    "EventSubprocess": "subProcess", "AdHocSubprocess": "adHocSubProcess", "SubWorkflowTask": "subProcess",
    "StartEvent": "startEvent", "EndEvent": "endEvent", "IntermediateCatchEvent": "intermediateCatchEvent",
    "IntermediateThrowEvent": "intermediateThrowEvent", "BoundaryEvent": "boundaryEvent",
    "EventBasedGateway": "eventBasedGateway", "ExclusiveGateway": "exclusiveGateway",
    "InclusiveGateway": "inclusiveGateway", "ParallelGateway": "parallelGateway",
}
POINTS = frozenset({"boundaryEvent", "eventBasedGateway", "exclusiveGateway", "inclusiveGateway", "parallelGateway"})

Snapshot = dict[uuid.UUID, tuple[int, Any]]  # task id → (state, task spec)
_by_spec: dict[int, tuple[Any, str | None]] = {}  # id(spec) → (spec, kind): specs live as long as their cached bundle


def kind_of(spec: Any) -> str | None:
    """The BPMN element type a task spec runs (``userTask``, ``exclusiveGateway``…), or None when its tasks are not
    recorded (SpiffWorkflow's own start/end/split specs, a multi-instance or loop body)."""
    known = _by_spec.get(id(spec))
    if known is not None and known[0] is spec:
        return known[1]
    kind: str | None = None
    if getattr(spec, "bpmn_id", None) is not None and not isinstance(spec, LoopTask):
        cls = type(spec)
        named = next((KINDS[c.__name__] for c in cls.__mro__ if c.__name__ in KINDS), None)
        kind = named or cls.__name__[:1].lower() + cls.__name__[1:32]
    if len(_by_spec) > 100_000:  # bundles evicted from the spec cache leave their specs here: start afresh
        _by_spec.clear()
    _by_spec[id(spec)] = (spec, kind)
    return kind


def _tasks(workflow: CareflowWorkflow) -> Iterator[Task]:
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def snapshot(workflow: CareflowWorkflow) -> Snapshot:
    """The states of the workflow's entered tasks, before a step acts on it."""
    found: Snapshot = {}
    for task in _tasks(workflow):
        state, spec = task.state, task.task_spec
        if state >= TaskState.WAITING and kind_of(spec) is not None:
            found[task.id] = (state, spec)
    return found


def changes(before: Snapshot, workflow: CareflowWorkflow, *, instance_id: uuid.UUID, process_key: str,
            definition_id: int, now: datetime, actors: dict[uuid.UUID, str]) -> list[dict[str, Any]]:
    """The rows to insert or close for what the step changed since ``before`` (``actors``: task id → who completed
    it)."""
    rows: list[dict[str, Any]] = []

    def row(task_id: uuid.UUID, spec: Any, kind: str, started: datetime | None, ended: datetime | None,
            outcome: str | None, actor: str | None = None) -> None:
        rows.append({"id": task_id, "instance_id": instance_id, "process_key": process_key,
                     "definition_id": definition_id, "element_id": spec.bpmn_id, "element_type": kind,
                     "started_at": started, "ended_at": ended, "outcome": outcome, "actor": actor})

    present: set[uuid.UUID] = set()
    for task in _tasks(workflow):
        state = task.state
        if state < TaskState.WAITING:
            continue
        spec = task.task_spec
        kind = kind_of(spec)
        if kind is None:
            continue
        present.add(task.id)
        was = before.get(task.id, (0, None))[0]
        if state == was:
            continue
        if kind in POINTS:
            if state in (TaskState.COMPLETED, TaskState.ERROR):
                row(task.id, spec, kind, now, now, _OUTCOMES[state])
        elif state & OPEN:
            if not was & OPEN:  # entered now (or a failed task put back to ready: the row reopens)
                row(task.id, spec, kind, now, None, None)
        elif was & (OPEN | TaskState.ERROR):  # left now: the row exists, only its end is written
            row(task.id, spec, kind, None, now, _OUTCOMES[state], actors.get(task.id))
        elif not was and state != TaskState.CANCELLED:  # entered and left within this step
            row(task.id, spec, kind, now, now, _OUTCOMES[state], actors.get(task.id))
    for task_id, (was, spec) in before.items():
        if was & OPEN and task_id not in present and (kind := kind_of(spec)) not in POINTS and kind is not None:
            row(task_id, spec, kind, None, now, ActivityOutcome.CANCELLED)
    return rows


_UPSERTS: dict[str, Prepared] = {}


def _upsert(dialect: str) -> Prepared:
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert(_TABLE) if dialect == "postgresql" else sqlite.insert(_TABLE)
        statement = _UPSERTS[dialect] = Prepared(insert.on_conflict_do_update(index_elements=[_TABLE.c.id], set_={
            "started_at": func.coalesce(_TABLE.c.started_at, insert.excluded.started_at),
            "ended_at": insert.excluded.ended_at,
            "outcome": insert.excluded.outcome,
            "actor": func.coalesce(insert.excluded.actor, _TABLE.c.actor),
        }))
    return statement


def record(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (from :func:`changes`) in one statement: new rows inserted, open ones closed or reopened."""
    if rows:
        connection = session.connection()
        statement = _upsert(connection.dialect.name)
        later = gathering(session)
        if later is not None:  # a bulk start: one multi-row INSERT for the batch (engine.db.bulk)
            later.add(statement.statement, rows)
        else:
            statement.execute_many(connection, rows)


_CLOSE_OPEN = (update(_TABLE).where(_TABLE.c.instance_id == bindparam("instance"), _TABLE.c.ended_at.is_(None))
               .values(ended_at=bindparam("at"), outcome=ActivityOutcome.CANCELLED))


def close_open(session: Session, instance_id: uuid.UUID, at: datetime) -> None:
    """Close every open row of the instance as cancelled (a cancel that could not restore the workflow)."""
    session.connection().execute(_CLOSE_OPEN, {"instance": instance_id, "at": at})
