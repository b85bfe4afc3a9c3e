"""Starting, inspecting, cancelling and retrying process instances."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import authz
from engine.bpmn.loader import ParsedBundle
from engine.context import EngineContext
from engine.db.bulk import gathered
from engine.db.models import (
    AuditEvent,
    HumanTask,
    InstanceLike,
    InstanceRecord,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    Timer,
)
from engine.db.pipeline import pipelined
from engine.db.session import unit_of_work
from engine.errors import (
    DuplicateBusinessKeyError,
    InstanceNotFoundError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
)
from engine.inputs import check_value
from engine.runtime import instance as runtime
from engine.runtime import lifecycle
from engine.runtime import step as steps
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role
from engine.services.definitions import startable_version
from engine.services.taskviews import task_view
from engine.views import Actor, BulkStart, HistoryEntry, InstanceView, TimerView


def parse_id(value: str | uuid.UUID, what: str = "instance") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidInputError(f"{value!r} is not a valid {what} id") from exc


def _check_variables(ctx: EngineContext, variables: Any) -> dict[str, Any]:
    """The variables as a new dict; InvalidInputError when they could not be stored (engine.inputs) or read back."""
    if variables is None:
        return {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) and k.isidentifier() for k in variables):
        raise InvalidInputError("variables must be an object whose keys are identifiers")
    check_value(variables, "variables", ctx.settings.input_limits)
    return dict(variables)


def start_instance(
    ctx: EngineContext,
    *,
    process_key: str,
    actor: Actor,
    business_key: str | None = None,
    customer_id: str | None = None,
    variables: dict[str, Any] | None = None,
    version: int | None = None,
) -> InstanceView:
    """Start the latest (or given) version and run it to its first wait state.

    The workflow runs before the write transaction (engine.runtime.step); a failing first step still creates
    the instance, in status ``error``. Raises DefinitionNotFoundError, DuplicateBusinessKeyError,
    InvalidInputError, PermissionDeniedError, StepFailedError (the new state cannot be stored).
    """
    require_any_role(actor)
    authz.require(ctx, actor, "start", "process", process_key)
    seed = _check_variables(ctx, variables)
    now = ctx.clock.now()
    # No snapshot needed (SQLite reads without a transaction): a deployed version never changes, and the business key
    # is checked again by its unique index when the instance is stored.
    with unit_of_work(ctx.sessions, write=False, snapshot=False) as session:
        definition_id, definition_version = startable_version(session, process_key, version)
        if business_key is not None and session.scalar(
            select(ProcessInstance.id).where(
                ProcessInstance.process_key == process_key, ProcessInstance.business_key == business_key
            )
        ):
            raise DuplicateBusinessKeyError(f"{process_key} already has an instance for {business_key!r}")
        bundle = runtime.load_bundle(ctx, session, definition_id)
    request = StartRequest(business_key, customer_id, seed)
    step = _starting(ctx, bundle, definition_id, definition_version, process_key, actor, now, request)
    try:
        with unit_of_work(ctx.sessions) as session, pipelined(session.connection()):
            step.store(session)
    except IntegrityError as exc:
        if business_key is None:
            raise
        raise DuplicateBusinessKeyError(f"{process_key} already has an instance for {business_key!r}") from exc
    return _summary(step.instance, definition_version)


@dataclass(frozen=True)
class StartRequest:
    business_key: str | None
    customer_id: str | None = None
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Chosen by the caller when its own records must name the instance before it starts (a complaint case,
    # whose SLA shapes the first task's due time); a new one otherwise.
    instance_id: uuid.UUID | None = None


def _starting(ctx: EngineContext, bundle: ParsedBundle, definition_id: int, definition_version: int,
              process_key: str, actor: Actor, now: datetime, request: StartRequest) -> steps.Step:
    row = InstanceRecord(
        id=request.instance_id or uuid.uuid4(), definition_id=definition_id, process_key=process_key,
        business_key=request.business_key, customer_id=request.customer_id, started_by=actor.username, started_at=now,
    )
    return steps.starting(ctx, row, bundle, dict(request.variables), actor=actor.username,
                          audit_after={"version": definition_version, "business_key": request.business_key})


def start_in(ctx: EngineContext, session: Session, process_key: str, actor: Actor, request: StartRequest) -> None:
    """Start the latest version inside the caller's write transaction (a complaint with its case)."""
    definition_id, definition_version = startable_version(session, process_key, None)
    bundle = runtime.load_bundle(ctx, session, definition_id)
    _starting(ctx, bundle, definition_id, definition_version, process_key, actor, ctx.clock.now(),
              request).store(session)


def start_instances(
    ctx: EngineContext,
    *,
    process_key: str,
    requests: Sequence[StartRequest],
    actor: Actor,
    on_started: Callable[[Session, StartRequest], None] | None = None,
    on_stored: Callable[[Session, BulkStart], None] | None = None,
) -> BulkStart:
    """Start many instances of one process, stored in one transaction (scheduler scans, campaigns).

    A request whose business key already has an instance is skipped, so a batch can be rerun
    safely; ``on_started`` runs in the same transaction for each new instance, ``on_stored`` once with the batch's
    outcome at its end (a wave chunk's progress, engine.care.waves). The workflows run before the
    write transaction. If a concurrent starter wins a key between our check and our commit, the batch is
    retried without it. Raises DefinitionNotFoundError, InvalidInputError, PermissionDeniedError.
    """
    require_any_role(actor)
    for request in requests:
        _check_variables(ctx, request.variables)
        if not request.business_key:
            raise InvalidInputError("bulk starts need a business key per instance (that is what makes reruns safe)")
    for attempt in range(3):
        try:
            return _start_batch(ctx, process_key, requests, actor, on_started, on_stored)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_batch(ctx: EngineContext, process_key: str, requests: Sequence[StartRequest], actor: Actor,
                 on_started: Callable[[Session, StartRequest], None] | None,
                 on_stored: Callable[[Session, BulkStart], None] | None = None) -> BulkStart:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        definition_id, definition_version = startable_version(session, process_key, None)
        taken = set(session.scalars(select(ProcessInstance.business_key).where(
            ProcessInstance.process_key == process_key,
            ProcessInstance.business_key.in_([r.business_key for r in requests]))))
        bundle = runtime.load_bundle(ctx, session, definition_id)
    started: list[tuple[StartRequest, steps.Step]] = []
    skipped = []
    for request in requests:
        if request.business_key in taken:
            skipped.append(str(request.business_key))
            continue
        taken.add(request.business_key)
        started.append((request, _starting(ctx, bundle, definition_id, definition_version, process_key, actor, now,
                                           request)))
    with unit_of_work(ctx.sessions) as session:
        with gathered(session):  # the instances' leaf rows as one multi-row INSERT per table (engine.db.bulk)
            for request, step in started:
                step.store(session)
                if on_started is not None:
                    on_started(session, request)
        result = BulkStart(tuple(str(step.instance.id) for _, step in started), tuple(skipped))
        if on_stored is not None:
            on_stored(session, result)
    return result


def _summary(row: InstanceLike, version: int) -> InstanceView:
    error = None
    if row.status == InstanceStatus.ERROR.value:
        error = {"message": row.error_message, "task": row.error_task, **(row.error_details or {})}
    return InstanceView(
        id=str(row.id), process_key=row.process_key, definition_version=version, business_key=row.business_key,
        customer_id=row.customer_id, status=row.status, started_by=row.started_by, started_at=row.started_at,
        ended_at=row.ended_at, error=error,
    )


def get_instance(ctx: EngineContext, instance_id: str | uuid.UUID, *, actor: Actor) -> InstanceView:
    """Status, open tasks, pending timers and history of one instance, for whoever may read it (:func:`may_read`).

    Raises InstanceNotFoundError, PermissionDeniedError."""
    require_any_role(actor)
    key = parse_id(instance_id)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = _get(session, key)
        if not may_read(ctx, session, actor, row):
            raise PermissionDeniedError("this instance is not yours to read: you take part in none of its tasks and "
                                        "hold no read grant on its process", details={"permission": "read",
                                                                                     "resource": f"process:{row.process_key}"})
        summary = _summary(row, _version(session, row))
        tasks = session.scalars(
            select(HumanTask).where(HumanTask.instance_id == key, HumanTask.status.in_(OPEN_STATES))
            .order_by(HumanTask.created_at)
        ).all()
        timers = session.scalars(select(Timer).where(Timer.instance_id == key).order_by(Timer.due_at)).all()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.stream == f"instance:{key}").order_by(AuditEvent.id)
        ).all()
        return dataclasses.replace(
            summary,
            open_tasks=[task_view(t, actor) for t in tasks if lifecycle.can_see(actor, t)],  # no peeking across teams
            timers=[TimerView(t.name, t.due_at, t.status) for t in timers],
            history=[HistoryEntry(e.at, e.actor, e.action, e.after) for e in events],
        )


def may_read(ctx: EngineContext, session: Session, actor: Actor, row: InstanceLike) -> bool:
    """Read an instance's history, business key, customer and data: a ``read`` grant on its process or on the
    instance, or taking part in it (a task it has is yours to see: candidate, assignee, performer)."""
    if authz.allows(ctx, actor, "read", "process", row.process_key) or authz.allows(
            ctx, actor, "read", "instance", str(row.id)):
        return True
    tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == row.id)).all()
    return any(lifecycle.can_see(actor, t) for t in tasks)


def _get(session: Session, key: uuid.UUID) -> ProcessInstance:
    row = session.get(ProcessInstance, key)
    if row is None:
        raise InstanceNotFoundError(f"no process instance {key}")
    return row


def _version(session: Session, row: InstanceLike) -> int:
    return int(session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.id == row.definition_id)) or 0)


def cancel_instance(ctx: EngineContext, instance_id: str | uuid.UUID, *, actor: Actor, reason: str = "") -> InstanceView:
    """Cancel (terminate) a running or failed instance: open tasks are cancelled, timers and subscriptions dropped.

    Always possible, even when the instance's stored state can no longer be restored. Raises
    InstanceNotFoundError, InvalidTransitionError (already ended), PermissionDeniedError.
    """
    require_any_role(actor)

    def act(step: steps.Step) -> tuple[steps.Step, int]:
        row = step.instance
        authz.require(ctx, actor, "manage", "process", row.process_key)
        if row.status in (InstanceStatus.COMPLETED.value, InstanceStatus.CANCELLED.value):
            raise InvalidTransitionError(f"instance is already {row.status}", subject=str(row.id), state=row.status,
                                         action="cancel")
        step.cancel()
        step.audit("instance.cancelled", actor=actor.username, after={"reason": reason})
        return step, _version(_reads(step), row)

    step, version = steps.on_instance(ctx, parse_id(instance_id), act)
    return _summary(step.instance, version)


def retry_instance(
    ctx: EngineContext, instance_id: str | uuid.UUID, *, actor: Actor, data: dict[str, Any] | None = None
) -> InstanceView:
    """Re-run the failed step(s) of an instance in ``error``, optionally after correcting task data.

    If the step fails again the instance stays in ``error`` with the new message (the
    attempt is audited). Raises InstanceNotFoundError, InvalidTransitionError (not in error),
    PermissionDeniedError, InvalidInputError, StepFailedError.
    """
    require_any_role(actor)
    patch = _check_variables(ctx, data)

    def act(step: steps.Step) -> tuple[steps.Step, int]:
        row = step.instance
        authz.require(ctx, actor, "manage", "process", row.process_key)
        if row.status != InstanceStatus.ERROR.value:
            raise InvalidTransitionError("only a failed instance can be retried", subject=str(row.id),
                                         state=row.status, action="retry")
        step.retry(patch, by=actor.username)
        failure = step.failure
        step.audit("instance.retried", actor=actor.username,
                   after={"ok": failure is None, "patched": sorted(patch),
                          "message": failure.message if failure else None})
        return step, _version(_reads(step), row)

    step, version = steps.on_instance(ctx, parse_id(instance_id), act)
    return _summary(step.instance, version)


def _reads(step: steps.Step) -> Session:
    assert step.session is not None
    return step.session
