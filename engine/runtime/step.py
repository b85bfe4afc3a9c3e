"""The one owner of a workflow step: read → act → write, for every command that moves or marks an instance.

Services say *what* happens to an instance (complete this task, deliver this message, cancel it); this module
says *how* it is read, run, locked and stored:

1. **Read** the instance row, and the task row when the command names a task, as plain objects.
2. **Act** in memory: the service checks its rules on what was read and tells the :class:`Step` what happens.
   The workflow is restored only when an act needs it; user code (scripts, conditions, correlation and
   timer expressions) runs under one budget per step (``engine.bpmn.limits``).
3. **Write** in one transaction: the instance row first (``UPDATE … WHERE revision = :seen``, the optimistic
   check), then the task rows the act changed, the service handlers' effects (``engine.runtime.effects``), the
   query tables (``engine.runtime.projection``) and the instance's audit events, chained in memory and
   inserted in one statement. Every statement is built once (``engine.runtime.rows``).

**Locking, one way per database.** PostgreSQL locks the instance row as it reads it (``SELECT … FOR UPDATE``,
``SKIP LOCKED`` for the sweeps) and does all three phases in one transaction: only that instance waits.
SQLite has one write lock for the whole database, so there the act runs *before* the write transaction
(``BEGIN IMMEDIATE``) and the revision check catches whoever saved in between: a runaway script holds no
lock, and concurrent steps run their workflows in parallel and queue only for their writes.

**Conflicts.** A write that finds another revision rolls back, and the command runs again from the read on
the new state, up to :data:`ATTEMPTS` times. Every command is retried: each try checks its rules again, so a
second claim of one task ends as "already claimed", a completion of a task someone else completed as "no
longer waiting", and only a command that loses :data:`ATTEMPTS` times in a row gets
ConcurrentModificationError (HTTP 409, "busy; retry").

**Incidents.** A step whose own machinery fails — the state cannot be serialized (nesting deeper than the
serializer allows), a correlation expression fails while the query tables are rebuilt, an effect meets
an unexpected error — is not retried: its changes roll back and the instance goes to ``error`` with the
cause in a transaction of its own (:func:`record_incident`), for a supervisor to retry, patch or terminate.
Typed engine errors (a rule an effect enforces) and database errors reach the caller unchanged.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Literal, TypeVar

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from engine import audit
from engine.bpmn import limits
from engine.bpmn.loader import ParsedBundle
from engine.bpmn.serializer import STATE_VERSION, dump_state, load_state
from engine.bpmn.workflow import CareflowWorkflow
from engine.clock import Clock
from engine.context import EngineContext
from engine.db.models import InstanceRecord, InstanceStatus, TaskRecord
from engine.db.pipeline import pipelined
from engine.db.session import unit_of_work
from engine.errors import (
    ConcurrentModificationError,
    EngineError,
    InstanceNotFoundError,
    InvalidTransitionError,
    ProcessScriptError,
    StepFailedError,
)
from engine.privacy import state_field
from engine.runtime import four_eyes, history, projection, rows
from engine.runtime.effects import apply_effects
from engine.runtime.instance import (
    StepFailure,
    failure_from,
    load_bundle,
    new_workflow,
    ready_task,
    reready_failed_tasks,
    run_steps,
    script_engine,
    send_message,
)

log = logging.getLogger(__name__)

ATTEMPTS = 4
R = TypeVar("R")
Lock = Literal["wait", "skip"]
ENDED = (InstanceStatus.COMPLETED.value, InstanceStatus.CANCELLED.value)


class Step:
    """One command's work on one instance: what was read, what the act changed, what the write must store."""

    def __init__(self, ctx: EngineContext, session: Session | None, instance: InstanceRecord, *, now: datetime,
                 task: TaskRecord | None = None, new: bool = False, clock: Clock | None = None) -> None:
        self.ctx = ctx
        self.session: Session | None = session  # for reads while the act runs; gone when the write starts
        self.instance = instance  # a plain object, never in a session: the write phase stores it by statements
        instance.revision = instance.revision or 0
        self.task = task
        self.now = now
        self.clock = clock or ctx.clock
        self.new = new
        self.failure: StepFailure | None = None
        self.budget = limits.Budget(ctx.settings.script_limits)
        self._workflow: CareflowWorkflow | None = None
        self._moved = new  # the workflow state changed: store it, set the status, rebuild the query tables
        self._cancelled = False
        self._entries: list[audit.Entry] = []
        self._writes: list[Callable[[Session], None]] = []
        self._sealed: str | None = None
        self._bundle: ParsedBundle | None = None
        self._seen_revision = instance.revision
        self._history: history.Snapshot = {}  # the task states as restored: what the step entered and left
        self._performers: dict[uuid.UUID, str] = {}  # task id → who completed it

    # --- reading ---------------------------------------------------------------------------------------------

    @property
    def bundle(self) -> ParsedBundle:
        """The parsed spec the instance runs on."""
        if self._bundle is None:
            self._bundle = load_bundle(self.ctx, self._reads(), self.instance.definition_id)
        return self._bundle

    @property
    def workflow(self) -> CareflowWorkflow:
        """The instance's workflow, restored on first use."""
        if self._workflow is None:
            engine = script_engine(self.ctx, self.clock, self.instance.id, self.instance.process_key)
            bundle = self.bundle
            self._workflow = load_state(self.ctx.cipher.unseal(self.instance.state, state_field(self.instance.id)), bundle.spec,
                                        bundle.subprocess_specs, engine)
            self._history = history.snapshot(self._workflow)
        return self._workflow

    def _reads(self) -> Session:
        if self.session is None:
            raise RuntimeError("the step's reads are over: the write phase has begun")
        return self.session

    # --- what happens to the instance ------------------------------------------------------------------------

    def start(self, bundle: ParsedBundle, variables: dict[str, Any]) -> None:
        """A new instance: build its workflow on ``bundle`` with ``variables`` and run it to its first wait."""
        self._bundle = bundle
        self._workflow = new_workflow(bundle, script_engine(self.ctx, self.clock, self.instance.id,
                                                            self.instance.process_key), variables)
        self.run()

    def run(self) -> StepFailure | None:
        """Run every ready engine task; a failure is kept (the instance goes to ``error`` when stored)."""
        self._moved = True
        with limits.spending(self.budget):
            failure = run_steps(self.workflow)
        self.failure = failure or self.failure
        return failure

    def complete(self, task: TaskRecord, data: dict[str, Any], *, by: str) -> None:
        """Complete the user task with its form data and run on. Raises InvalidTransitionError when the process no
        longer waits for it."""
        spiff_task = ready_task(self.workflow, task.id)
        if spiff_task is None:
            raise InvalidTransitionError("the process is no longer waiting for this task", subject=str(task.id),
                                         state=task.status, action="complete")
        self._moved = True
        spiff_task.data.update(data)
        try:
            with limits.spending(self.budget):
                spiff_task.run()  # a post-script runs here
        except SpiffWorkflowException as exc:
            self.failure = failure_from(exc)
        if self.failure is None:
            self.run()
        # Before the projection, which closes the open rows whose task is no longer ready: this one is done. Its
        # performer is recorded first, so an approval task created by this very step already excludes them.
        self.write(lambda session: four_eyes.record(session, self.instance.id, task.task_name, by, "completed",
                                                    self.now))
        self.write(lambda session: rows.complete_task(session, task.id, by, self.now))
        self._performers[task.id] = by
        task.status, task.completed_at, task.completed_by = "completed", self.now, by

    def deliver(self, catcher_id: uuid.UUID, name: str, payload: dict[str, Any], correlation: dict[str, Any]) -> None:
        """Hand message ``name`` to the waiting catch event ``catcher_id`` and run on."""
        self._moved = True
        try:
            with limits.spending(self.budget):
                send_message(self.workflow, catcher_id, name, payload, correlation)
        except SpiffWorkflowException as exc:
            self.failure = failure_from(exc)
            return
        self.run()

    def fire_timers(self) -> None:
        """Let every timer due by the step's clock fire, and run on."""
        self._moved = True
        try:
            with limits.spending(self.budget):
                self.workflow.refresh_timers()
        except SpiffWorkflowException as exc:
            self.failure = failure_from(exc)
            return
        self.run()

    def retry(self, patch: dict[str, Any], *, by: str) -> int:
        """Put the failed tasks back to ready with ``patch`` in their data and run on; how many were failed. Whoever
        patches a step's data becomes one of its performers (four eyes)."""
        if patch:
            for element in sorted({t.task_spec.bpmn_id or t.task_spec.name
                                   for t in self.workflow.get_tasks(state=TaskState.ERROR)}):
                self.write(functools.partial(four_eyes.record, instance_id=self.instance.id, element_id=element,
                                             username=by, kind="patched", at=self.now))
        count = reready_failed_tasks(self.workflow, patch)
        self.failure = None
        self.run()
        return count

    def cancel(self) -> None:
        """End the instance as cancelled: open tasks close, timers and subscriptions go.

        An instance whose state cannot even be restored is cancelled all the same (its stored state stays as
        it was): terminating must always be possible."""
        try:
            self.workflow.cancel()
            self._moved = True
        except Exception as exc:  # noqa: BLE001 - a poison state must not keep a case alive
            log.warning("instance %s cancelled without restoring its state: %s", self.instance.id, exc)
            self.write(lambda session: history.close_open(session, self.instance.id, self.now))
        self._cancelled = True

    def adopt(self, workflow: CareflowWorkflow, definition_id: int) -> None:
        """Continue on another deployed version (a migration): ``workflow`` already runs on its spec."""
        self._workflow, self._bundle = workflow, None
        self.instance.definition_id = definition_id
        self._moved = True

    def keep_failure(self, failure: StepFailure) -> None:
        """The instance stays in ``error`` with ``failure`` (a migrated instance still to be retried)."""
        self.failure = failure
        self._moved = True

    def write(self, change: Callable[[Session], None]) -> None:
        """Run ``change`` in the write transaction, after the instance row is stored and before the effects."""
        self._writes.append(change)

    def audit(self, action: str, *, actor: str, before: dict[str, Any] | None = None,
              after: dict[str, Any] | Callable[[], dict[str, Any]] | None = None) -> None:
        """Record ``action`` on the instance's audit stream, in this step's transaction. ``after`` may be a function,
        called once the step's writes are done (to name what they created)."""
        self._entries.append(audit.Entry(actor, action, before, after))  # type: ignore[arg-type]

    @property
    def changed(self) -> bool:
        """Whether the act left anything to store (a refused or answered-already command stores nothing)."""
        return self._moved or self._cancelled or bool(self._writes) or bool(self._entries)

    @property
    def status(self) -> str:
        """The instance's status once this step is stored."""
        if self._cancelled:
            return InstanceStatus.CANCELLED.value
        if not self._moved:
            return self.instance.status
        if self.failure is not None:
            return InstanceStatus.ERROR.value
        return InstanceStatus.COMPLETED.value if self.workflow.is_completed() else InstanceStatus.RUNNING.value

    # --- storing ---------------------------------------------------------------------------------------------

    def seal(self) -> None:
        """Serialize and seal the state before the write transaction (it may fail: an incident, not a lock)."""
        if self._moved and self._workflow is not None:
            self._sealed = self.ctx.cipher.seal(dump_state(self._workflow), state_field(self.instance.id))

    def store(self, session: Session) -> None:
        """The write phase: the act's own writes → instance row (revision check) → effects → query tables → audit.

        The act's writes (a task row by id, a comment) come first, so the audit events can name what they created;
        the instance row then checks that nobody stored the instance since it was read (a conflict rolls all of it
        back) before anything is derived from the workflow state. A new instance's row comes first of all: its task
        rows refer to it."""
        self.session = None
        instance, now = self.instance, self.now
        status = self.status
        if self.new:
            audit_rows = self._write_instance(session, status)
        for change in self._writes:
            change(session)
        if not self.new:
            audit_rows = self._write_instance(session, status)
        if self._workflow is not None and self._moved:
            effects = self._workflow.script_engine.effects
            apply_effects(session, instance.id, effects, now)
            effects.clear()
            if status not in ENDED:
                with limits.spending(self.budget):
                    projection.project(session, instance, self._workflow, now, new=self.new,
                                       shaping=self.ctx.shaping())
        if status in ENDED and not self.new and (self._moved or self._cancelled):
            projection.clear(session, instance, now)
        if self._workflow is not None and self._moved:
            history.record(session, history.changes(
                self._history, self._workflow, instance_id=instance.id, process_key=instance.process_key,
                definition_id=instance.definition_id, now=now, actors=self._performers))
        audit.insert_rows(session, audit_rows)

    def _write_instance(self, session: Session, status: str) -> list[dict[str, Any]]:
        """Insert or update the instance row (with the revision check); returns the step's chained audit rows."""
        audit_rows = self._chain()
        if self.new:
            self._set_columns(status)
            rows.insert_instance(session, self.instance)
        elif self._moved or self._cancelled:
            self._set_columns(status)
            rows.update_instance(session, self.instance, self._seen_revision)
        else:
            rows.advance_instance(session, self.instance.id, self._seen_revision, self.instance.audit_head or "")
            self.instance.revision = self._seen_revision + 1
        return audit_rows

    def _chain(self) -> list[dict[str, Any]]:
        """The audit rows of this step, chained after the instance's head (which moves to the last of them)."""
        resolved = [audit.Entry(e.actor, e.action, e.before, e.after() if callable(e.after) else e.after)
                    for e in self._entries]
        entries, head = audit.chain_instance(self.instance.id, self.instance.audit_head, resolved, self.now)
        self.instance.audit_head = head
        return entries

    def _set_columns(self, status: str) -> None:
        instance, failure = self.instance, self.failure
        if self._sealed is not None:
            instance.state = self._sealed
            instance.state_version = STATE_VERSION
        instance.updated_at = self.now
        instance.status = status
        if status in ENDED:
            instance.ended_at = self.now
        if status == InstanceStatus.ERROR.value and failure is not None:
            instance.error_message, instance.error_task = failure.message, failure.task_name
            instance.error_details = failure.details()
        elif status != InstanceStatus.ERROR.value:
            instance.error_message = instance.error_task = None
            instance.error_details = None


# --- running a command ---------------------------------------------------------------------------------------------

Reader = Callable[[Session, Lock | None], tuple[InstanceRecord, TaskRecord | None] | None]


def on_task(ctx: EngineContext, task_id: uuid.UUID, act: Callable[[Step], R]) -> R:
    """Run ``act`` on the instance of task ``task_id`` (the step's ``task``). Raises TaskNotFoundError."""

    def read(session: Session, lock: Lock | None) -> tuple[InstanceRecord, TaskRecord | None]:
        return rows.read_task(session, task_id, lock=lock)

    result = _run(ctx, read, act)
    assert result is not _SKIPPED
    return result


def on_instance(ctx: EngineContext, instance_id: uuid.UUID, act: Callable[[Step], R], *,
                clock: Clock | None = None) -> R:
    """Run ``act`` on instance ``instance_id``. Raises InstanceNotFoundError."""

    def read(session: Session, lock: Lock | None) -> tuple[InstanceRecord, TaskRecord | None]:
        instance = rows.read_instance(session, instance_id, lock=lock)
        if instance is None:
            raise InstanceNotFoundError(f"no process instance {instance_id}")
        return instance, None

    result = _run(ctx, read, act, clock=clock)
    assert result is not _SKIPPED
    return result


def unless_busy(ctx: EngineContext, instance_id: uuid.UUID, act: Callable[[Step], R], *,
                clock: Clock | None = None) -> R | None:
    """Like :func:`on_instance` for the sweeps: None when another process holds the instance (PostgreSQL's
    ``SKIP LOCKED``) or it is gone, rather than waiting for it."""

    def read(session: Session, lock: Lock | None) -> tuple[InstanceRecord, TaskRecord | None] | None:
        instance = rows.read_instance(session, instance_id, lock="skip" if lock else None)
        return (instance, None) if instance is not None else None

    result = _run(ctx, read, act, clock=clock)
    return None if result is _SKIPPED else result


def starting(ctx: EngineContext, instance: InstanceRecord, bundle: ParsedBundle, variables: dict[str, Any], *,
             actor: str, audit_after: dict[str, Any]) -> Step:
    """A new instance run to its first wait and sealed, in memory (no transaction, no lock): store it with
    :meth:`Step.store` in the write transaction. ``instance`` is a transient row with its start columns set."""
    step = Step(ctx, None, instance, now=instance.started_at, new=True)
    step.start(bundle, variables)
    step.audit("instance.started", actor=actor, after=audit_after)
    if step.failure is not None:
        step.audit("instance.failed", actor=actor, after={"message": step.failure.message,
                                                          "task": step.failure.task_name})
    try:
        step.seal()
    except Exception as exc:  # noqa: BLE001 - nothing is stored: the caller learns why
        raise StepFailedError(f"the new instance's state cannot be stored: {type(exc).__name__}: {exc}"[:2000],
                              details={"process_key": instance.process_key}) from exc
    return step


def start_in(ctx: EngineContext, session: Session, instance: InstanceRecord, bundle: ParsedBundle,
             variables: dict[str, Any], *, actor: str, audit_after: dict[str, Any]) -> Step:
    """Start a new instance inside the caller's write transaction (a complaint and its case, whose number the
    process needs): run it to its first wait and store it. Its user code runs within the step's budget."""
    step = starting(ctx, instance, bundle, variables, actor=actor, audit_after=audit_after)
    step.store(session)
    return step


class _Skipped:
    pass


_SKIPPED: Any = _Skipped()


def _run(ctx: EngineContext, read: Reader, act: Callable[[Step], R], *, clock: Clock | None = None) -> R:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _attempt(ctx, read, act, clock, locked=not ctx.settings.is_sqlite)
        except ConcurrentModificationError:
            if attempt == ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.005 * attempt))  # noqa: S311 - jitter, not security
    raise AssertionError("unreachable")


def _attempt(ctx: EngineContext, read: Reader, act: Callable[[Step], R], clock: Clock | None, *, locked: bool) -> R:
    """One try at a step. ``locked`` (PostgreSQL): read with the row lock, act and write in one transaction.
    Otherwise (SQLite, one writer at a time): read and act outside the write lock, then write with the revision
    check, so a slow script never holds the database's only write lock."""
    step: Step | None = None
    try:
        # SQLite reads outside any transaction (no BEGIN/COMMIT): whatever the act reads is the instance's (the
        # revision check at the write catches a concurrent step) or never changes (a deployed definition).
        # PostgreSQL: the whole step in pipeline mode (engine.db.pipeline): BEGIN goes with the locking read, and the
        # writes go together, up to the first whose result is needed.
        with unit_of_work(ctx.sessions, write=locked, snapshot=locked) as session, \
                pipelined(session.connection()) if locked else nullcontext():
            found = read(session, "wait" if locked else None)
            if found is None:
                return _SKIPPED
            step = Step(ctx, session, found[0], task=found[1], now=(clock or ctx.clock).now(), clock=clock)
            result = act(step)
            if locked and step.changed:
                step.seal()
                step.store(session)
        if not locked and step.changed:
            step.seal()
            with unit_of_work(ctx.sessions) as session:
                step.store(session)
        return result
    except Exception as exc:
        incident = _as_incident(ctx, step, exc)
        if incident is exc:
            raise
        raise incident from exc


def _as_incident(ctx: EngineContext, step: Step | None, exc: Exception) -> Exception:
    """What the caller gets for ``exc``: typed engine and database errors unchanged (a rule an act or effect
    enforces, a conflict, a lost connection); anything else — the machinery failed on this instance's state or
    code — puts the instance into ``error`` (:func:`record_incident`) and becomes StepFailedError."""
    if step is None or (isinstance(exc, (EngineError, SQLAlchemyError)) and not isinstance(exc, ProcessScriptError)):
        return exc
    return _incident(ctx, step, exc)


def _incident(ctx: EngineContext, step: Step, exc: Exception) -> StepFailedError:
    log.error("step on instance %s failed while it was stored: %s: %s", step.instance.id, type(exc).__name__, exc)
    message = f"the step could not be stored: {type(exc).__name__}: {exc}"[:2000]
    record_incident(ctx, step.instance.id, step._seen_revision, message, error_type=type(exc).__name__,
                    at=step.now)
    return StepFailedError(message, details={"instance_id": str(step.instance.id)})


def record_incident(ctx: EngineContext, instance_id: uuid.UUID, seen_revision: int, message: str, *,
                    error_type: str, at: datetime, actor: str = "system") -> bool:
    """Put the instance into ``error`` with ``message``, keeping its stored state (the failed step's changes are
    gone). False if the instance moved on since ``seen_revision`` (someone else's step was stored)."""
    try:
        with unit_of_work(ctx.sessions) as session:
            current = rows.read_instance(session, instance_id, lock="wait")
            if current is None or current.revision != seen_revision or current.status in ENDED:
                return False
            entries, head = audit.chain_instance(instance_id, current.audit_head, [audit.Entry(
                actor, "instance.failed", after={"message": message, "phase": "store"})], at)
            rows.mark_failed(session, instance_id, seen_revision, message=message, error_type=error_type, at=at,
                             audit_head=head or "")
            audit.insert_rows(session, entries)
            return True
    except ConcurrentModificationError:
        return False


def failure_of(exc: Exception) -> StepFailure:
    """A failure described from an exception raised outside SpiffWorkflow's own error handling."""
    if isinstance(exc, WorkflowTaskException):
        return failure_from(exc)
    return StepFailure(f"{type(exc).__name__}: {exc}", None, None, None, type(exc).__name__)
