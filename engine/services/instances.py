"""Starting, inspecting, cancelling and retrying process instances."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.models import AuditEvent, HumanTask, InstanceStatus, ProcessDefinition, ProcessInstance, Timer
from engine.db.session import unit_of_work
from engine.errors import (
    DuplicateBusinessKeyError,
    InstanceNotFoundError,
    InvalidInputError,
    InvalidTransitionError,
)
from engine.runtime import instance as runtime
from engine.runtime import lifecycle
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role, require_role
from engine.services.definitions import latest_version
from engine.services.taskviews import task_view
from engine.views import Actor, BulkStart, HistoryEntry, InstanceView, TimerView


def parse_id(value: str | uuid.UUID, what: str = "instance") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidInputError(f"{value!r} is not a valid {what} id") from exc


def _check_variables(variables: Any) -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) and k.isidentifier() for k in variables):
        raise InvalidInputError("variables must be an object whose keys are identifiers")
    try:
        json.dumps(variables)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"variables must be JSON values: {exc}") from exc
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
    """Start the latest (or given) version and run it to its first wait state, in one transaction.

    A failing first step still creates the instance, in status ``error``. Raises
    DefinitionNotFoundError, DuplicateBusinessKeyError, InvalidInputError, PermissionDeniedError.
    """
    require_any_role(actor)
    seed = _check_variables(variables)
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            definition_id, definition_version = latest_version(session, process_key, version)
            if business_key is not None and session.scalar(
                select(ProcessInstance.id).where(
                    ProcessInstance.process_key == process_key, ProcessInstance.business_key == business_key
                )
            ):
                raise DuplicateBusinessKeyError(f"{process_key} already has an instance for {business_key!r}")
            row = _start_in(ctx, session, definition_id, definition_version, process_key, actor, now,
                            StartRequest(business_key, customer_id, seed))
            return _summary(row, definition_version)
    except IntegrityError as exc:
        if business_key is None:
            raise
        raise DuplicateBusinessKeyError(f"{process_key} already has an instance for {business_key!r}") from exc


@dataclass(frozen=True)
class StartRequest:
    business_key: str | None
    customer_id: str | None = None
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Chosen by the caller when its own records must name the instance before it starts (a complaint case,
    # whose SLA shapes the first task's due time); a new one otherwise.
    instance_id: uuid.UUID | None = None


def _start_in(ctx: EngineContext, session: Session, definition_id: int, definition_version: int, process_key: str,
              actor: Actor, now: datetime, request: StartRequest) -> ProcessInstance:
    """Create one instance and run it to its first wait state inside the caller's transaction."""
    bundle = runtime.load_bundle(ctx, session, definition_id)
    row = ProcessInstance(
        id=request.instance_id or uuid.uuid4(), definition_id=definition_id, process_key=process_key,
        business_key=request.business_key, customer_id=request.customer_id, started_by=actor.username, started_at=now,
    )
    workflow = runtime.new_workflow(bundle, runtime.script_engine(ctx, ctx.clock, row.id), dict(request.variables))
    failure = runtime.run_steps(workflow)
    # Audit first: the new row is then inserted with its audit head, not updated after.
    audit.append_instance(session, row, actor=actor.username, action="instance.started", at=now,
                          after={"version": definition_version, "business_key": request.business_key})
    if failure is not None:
        audit.append_instance(session, row, actor=actor.username, action="instance.failed", at=now,
                              after={"message": failure.message, "task": failure.task_name})
    runtime.save(session, row, workflow, now, failure=failure, new=True)
    return row


def start_instances(
    ctx: EngineContext,
    *,
    process_key: str,
    requests: Sequence[StartRequest],
    actor: Actor,
    on_started: Callable[[Session, StartRequest], None] | None = None,
) -> BulkStart:
    """Start many instances of one process in one transaction (scheduler scans, campaigns).

    A request whose business key already has an instance is skipped, so a batch can be rerun
    safely; ``on_started`` runs in the same transaction for each new instance. If a concurrent
    starter wins a key between our check and our commit, the batch is retried once without it.
    Raises DefinitionNotFoundError, InvalidInputError, PermissionDeniedError.
    """
    require_any_role(actor)
    for request in requests:
        _check_variables(request.variables)
        if not request.business_key:
            raise InvalidInputError("bulk starts need a business key per instance (that is what makes reruns safe)")
    for attempt in range(3):
        try:
            return _start_batch(ctx, process_key, requests, actor, on_started)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_batch(ctx: EngineContext, process_key: str, requests: Sequence[StartRequest], actor: Actor,
                 on_started: Callable[[Session, StartRequest], None] | None) -> BulkStart:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        definition_id, definition_version = latest_version(session, process_key, None)
        taken = set(session.scalars(select(ProcessInstance.business_key).where(
            ProcessInstance.process_key == process_key,
            ProcessInstance.business_key.in_([r.business_key for r in requests]))))
        started, skipped = [], []
        for request in requests:
            if request.business_key in taken:
                skipped.append(str(request.business_key))
                continue
            taken.add(request.business_key)
            row = _start_in(ctx, session, definition_id, definition_version, process_key, actor, now, request)
            if on_started is not None:
                on_started(session, request)
            started.append(str(row.id))
        return BulkStart(tuple(started), tuple(skipped))


def _summary(row: ProcessInstance, version: int) -> InstanceView:
    error = None
    if row.status == InstanceStatus.ERROR.value:
        error = {"message": row.error_message, "task": row.error_task, **(row.error_details or {})}
    return InstanceView(
        id=str(row.id), process_key=row.process_key, definition_version=version, business_key=row.business_key,
        customer_id=row.customer_id, status=row.status, started_by=row.started_by, started_at=row.started_at,
        ended_at=row.ended_at, error=error,
    )


def get_instance(ctx: EngineContext, instance_id: str | uuid.UUID, *, actor: Actor) -> InstanceView:
    """Status, open tasks, pending timers and history of one instance. Raises InstanceNotFoundError."""
    require_any_role(actor)
    key = parse_id(instance_id)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = _get(session, key)
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


def _get(session: Session, key: uuid.UUID) -> ProcessInstance:
    row = session.get(ProcessInstance, key)
    if row is None:
        raise InstanceNotFoundError(f"no process instance {key}")
    return row


def _version(session: Session, row: ProcessInstance) -> int:
    return int(session.scalar(select(ProcessDefinition.version).where(ProcessDefinition.id == row.definition_id)) or 0)


def cancel_instance(ctx: EngineContext, instance_id: str | uuid.UUID, *, actor: Actor, reason: str = "") -> InstanceView:
    """Cancel a running or failed instance: open tasks are cancelled, timers and subscriptions dropped.

    Raises InstanceNotFoundError, InvalidTransitionError (already ended), PermissionDeniedError.
    """
    require_role(actor, "supervisor")
    key = parse_id(instance_id)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = runtime.lock_instance(session, key)
        if row.status in (InstanceStatus.COMPLETED.value, InstanceStatus.CANCELLED.value):
            raise InvalidTransitionError(f"instance is already {row.status}", subject=str(key), state=row.status,
                                         action="cancel")
        workflow = runtime.restore(ctx, session, row, ctx.clock)
        workflow.cancel()
        runtime.save(session, row, workflow, now)
        row.status, row.ended_at = InstanceStatus.CANCELLED.value, now
        runtime.projection.clear(session, row, now)
        audit.append_instance(session, row, actor=actor.username, action="instance.cancelled", at=now,
                              after={"reason": reason})
        return _summary(row, _version(session, row))


def retry_instance(
    ctx: EngineContext, instance_id: str | uuid.UUID, *, actor: Actor, data: dict[str, Any] | None = None
) -> InstanceView:
    """Re-run the failed step(s) of an instance in ``error``, optionally after correcting task data.

    If the step fails again the instance stays in ``error`` with the new message (the
    attempt is audited). Raises InstanceNotFoundError, InvalidTransitionError (not in error),
    PermissionDeniedError, InvalidInputError.
    """
    require_role(actor, "supervisor")
    key = parse_id(instance_id)
    patch = _check_variables(data)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = runtime.lock_instance(session, key)
        if row.status != InstanceStatus.ERROR.value:
            raise InvalidTransitionError("only a failed instance can be retried", subject=str(key),
                                         state=row.status, action="retry")
        workflow = runtime.restore(ctx, session, row, ctx.clock)
        runtime.reready_failed_tasks(workflow, patch)
        failure = runtime.run_steps(workflow)
        runtime.save(session, row, workflow, now, failure=failure)
        audit.append_instance(session, row, actor=actor.username, action="instance.retried", at=now,
                              after={"ok": failure is None, "patched": sorted(patch),
                                     "message": failure.message if failure else None})
        return _summary(row, _version(session, row))
