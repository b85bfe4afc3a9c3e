"""Load → run → save for one instance, inside the caller's transaction.

``lock_instance`` takes the row lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
serializes writers with ``BEGIN IMMEDIATE``) and the optimistic ``revision`` column
catches anything that slips past. ``save`` writes the state without the spec, sets the
status, and rebuilds the query tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.bpmn.loader import ParsedBundle, SourceFile, parse_bundle
from engine.bpmn.serializer import STATE_VERSION, dump_state, load_state, task_data
from engine.bpmn.workflow import CareflowScriptEngine, CareflowWorkflow
from engine.clock import Clock
from engine.context import EngineContext
from engine.db.models import DefinitionFile, InstanceStatus, ProcessDefinition, ProcessInstance
from engine.errors import DefinitionNotFoundError, InstanceNotFoundError
from engine.outbox.store import store_effects
from engine.runtime import projection, rows


@dataclass(frozen=True)
class StepFailure:
    """Why the last engine step failed; stored on the instance for the retry button."""

    message: str
    task_name: str | None
    task_id: str | None
    line: int | None
    error_type: str | None

    def details(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "line": self.line, "error_type": self.error_type}


def load_bundle(ctx: EngineContext, session: Session, definition_id: int) -> ParsedBundle:
    """The parsed spec of a deployed version: from the cache, or parsed once from its stored files."""
    bundle = ctx.specs.get(definition_id)
    if bundle is not None:
        return bundle
    stored = session.scalars(
        select(DefinitionFile).where(DefinitionFile.definition_id == definition_id).order_by(DefinitionFile.filename)
    ).all()
    if not stored:
        raise DefinitionNotFoundError(f"definition {definition_id} has no files")
    key = session.scalar(select(ProcessDefinition.key).where(ProcessDefinition.id == definition_id))
    files = [SourceFile(r.filename, r.content.encode("utf-8")) for r in stored]
    bundle = parse_bundle(files, process_key=str(key), handlers=None)
    ctx.specs.put(definition_id, bundle)
    return bundle


def script_engine(ctx: EngineContext, clock: Clock, instance_id: uuid.UUID | None) -> CareflowScriptEngine:
    return CareflowScriptEngine(
        clock=clock, zone=ctx.settings.zone, handlers=ctx.handlers,
        instance_id=str(instance_id) if instance_id else None,
        calendar=ctx.calendar, sla_warn_share=ctx.settings.sla_warn_share, cipher=ctx.cipher,
        task_shapers=ctx.task_shapers,
    )


_LOCK_INSTANCE = select(ProcessInstance).where(ProcessInstance.id == bindparam("instance_id")).with_for_update()


def lock_instance(session: Session, instance_id: uuid.UUID) -> ProcessInstance:
    instance = session.scalars(_LOCK_INSTANCE, {"instance_id": instance_id}).one_or_none()
    if instance is None:
        raise InstanceNotFoundError(f"no process instance {instance_id}")
    return instance


def new_workflow(bundle: ParsedBundle, engine: CareflowScriptEngine, variables: dict[str, Any]) -> Any:
    workflow = CareflowWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    workflow.task_tree.data.update(variables)  # seed the root: task data flows parent → child
    return workflow


def restore(ctx: EngineContext, session: Session, instance: ProcessInstance, clock: Clock) -> Any:
    bundle = load_bundle(ctx, session, instance.definition_id)
    engine = script_engine(ctx, clock, instance.id)
    return load_state(ctx.cipher.unseal(instance.state), bundle.spec, bundle.subprocess_specs, engine)


def stored_task_data(ctx: EngineContext, instance: ProcessInstance, task_id: uuid.UUID) -> dict[str, Any] | None:
    """A task's data as stored, read without restoring the workflow (opening a task only shows it)."""
    return task_data(ctx.cipher.unseal(instance.state), str(task_id))


def run_steps(workflow: Any) -> StepFailure | None:
    """Run every ready engine task; a failing script/service leaves its task in ERROR."""
    try:
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        return failure_from(exc)
    return None


def failure_from(exc: SpiffWorkflowException) -> StepFailure:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None)
    notes = [n for n in getattr(exc, "notes", []) if n and not n.startswith("Error evaluating")]
    message = " ".join([str(exc.args[0]) if exc.args else type(exc).__name__, *notes]).strip()
    inner = getattr(exc, "exception", None)
    error_type = getattr(exc, "error_type", None) or (type(inner).__name__ if inner else type(exc).__name__)
    line = getattr(exc, "line_number", None) if isinstance(exc, WorkflowTaskException) else None
    return StepFailure(
        message=message,
        task_name=(getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None)) if spec else None,
        task_id=str(task.id) if task is not None else None,
        line=line or None,
        error_type=error_type,
    )


def reready_failed_tasks(workflow: Any, patch: dict[str, Any]) -> int:
    """Put every task in ERROR back to READY, then apply ``patch`` to its data.

    Re-ready first, then patch: SpiffWorkflow's ``reset_from_task_id(data=...)`` would
    overwrite the patched keys with the parent's values (research §4, bug 11).
    """
    failed = list(workflow.get_tasks(state=TaskState.ERROR))
    for task in failed:
        task._set_state(TaskState.READY)
        task.data.update(patch)
    return len(failed)


def ready_task(workflow: Any, task_id: uuid.UUID) -> Any | None:
    """The READY SpiffWorkflow task with this id, or None if the process is not waiting for it."""
    task = workflow.get_task_from_id(task_id)
    return task if task is not None and task.state == TaskState.READY else None


def save(
    session: Session,
    instance: ProcessInstance,
    workflow: Any,
    now: datetime,
    *,
    failure: StepFailure | None = None,
    new: bool = False,
) -> None:
    """Store the state (without spec, sealed: compressed and encrypted), the status and the query rows.

    Written at once (``engine.runtime.rows``), so audit the step before saving: an ``audit_head`` set on the
    instance afterwards costs a second UPDATE at commit. ``new``: ``instance`` is a transient object, inserted
    here. Caller commits.
    """
    cipher = workflow.script_engine.cipher
    state = dump_state(workflow)
    instance.state = cipher.seal(state) if cipher is not None else state
    instance.state_version = STATE_VERSION
    instance.updated_at = now
    if failure is not None:
        instance.status = InstanceStatus.ERROR.value
        instance.error_message = failure.message
        instance.error_task = failure.task_name
        instance.error_details = failure.details()
    elif workflow.is_completed():
        instance.status = InstanceStatus.COMPLETED.value
        instance.ended_at = now
        instance.error_message = instance.error_task = None
        instance.error_details = None
    else:
        instance.status = InstanceStatus.RUNNING.value
        instance.error_message = instance.error_task = None
        instance.error_details = None
    if new:
        rows.insert_instance(session, instance)  # the object stays out of the session
    else:
        rows.update_instance(session, instance)
    store_effects(session, instance.id, workflow.script_engine.effects, now)
    if instance.status != InstanceStatus.COMPLETED.value:
        projection.project(session, instance, workflow, now, new=new)
    elif not new:
        projection.clear(session, instance, now)


def send_message(
    workflow: Any, catcher_id: uuid.UUID, name: str, payload: dict[str, Any], values: dict[str, Any]
) -> None:
    """Deliver message ``name`` to the waiting catch task (or event-based gateway) ``catcher_id``.

    ``values`` are flat ``{property: value}``; SpiffWorkflow wants them grouped by
    correlation key: ``{key: {property: value}}``.
    """
    catcher = workflow.get_task_from_id(catcher_id)
    definition = next(d for d in projection.message_definitions(catcher.task_spec.event_definition) if d.name == name)
    correlations: dict[str, dict[str, Any]] = {}
    for prop in definition.correlation_properties:
        if prop.name in values:
            for key in prop.correlation_keys:
                correlations.setdefault(key, {})[prop.name] = values[prop.name]
    workflow.send_event(BpmnEvent(definition, payload, correlations))
