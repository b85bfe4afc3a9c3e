"""The workflow of one instance in memory: its parsed spec, restore, run, and how a failed step is described.

Nothing here writes to the database: ``engine.runtime.step`` owns reading, locking and saving an instance.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.extensions import properties
from engine.bpmn.loader import ParsedBundle, SourceFile, parse_bundle
from engine.bpmn.serializer import load_state, task_data
from engine.bpmn.validation import duration_problem
from engine.bpmn.workflow import CareflowScriptEngine, CareflowWorkflow
from engine.clock import Clock
from engine.context import EngineContext
from engine.db.models import DefinitionFile, InstanceLike, ProcessDefinition
from engine.errors import DefinitionNotFoundError, InstanceArchivedError, InvalidInputError
from engine.privacy import state_field
from engine.runtime import projection


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


def script_engine(ctx: EngineContext, clock: Clock, instance_id: uuid.UUID | None,
                  process_key: str | None = None) -> CareflowScriptEngine:
    return CareflowScriptEngine(clock=clock, zone=ctx.settings.zone, handlers=ctx.handlers,
                                instance_id=str(instance_id) if instance_id else None, process_key=process_key,
                                gate=ctx.handler_policy.gate)


def new_workflow(bundle: ParsedBundle, engine: CareflowScriptEngine, variables: dict[str, Any]) -> CareflowWorkflow:
    workflow = CareflowWorkflow(bundle.spec, bundle.subprocess_specs, script_engine=engine)
    workflow.task_tree.data.update(variables)  # seed the root: task data flows parent → child
    return workflow


def restore(ctx: EngineContext, session: Session, instance: InstanceLike, clock: Clock) -> CareflowWorkflow:
    """The instance's workflow as stored (read-only use: a step restores through ``engine.runtime.step``)."""
    if instance.archived_at is not None:
        raise InstanceArchivedError(f"instance {instance.id} was archived on {instance.archived_at:%Y-%m-%d}: its "
                                    "summary and audit trail are kept, its state is not")
    bundle = load_bundle(ctx, session, instance.definition_id)
    engine = script_engine(ctx, clock, instance.id, instance.process_key)
    state = ctx.cipher.unseal(instance.state, state_field(instance.id))
    workflow: CareflowWorkflow = load_state(state, bundle.spec, bundle.subprocess_specs, engine)
    return workflow


def stored_task_data(ctx: EngineContext, instance: InstanceLike, task_id: uuid.UUID) -> dict[str, Any] | None:
    """A task's data as stored, read without restoring the workflow (opening a task only shows it); None once
    retention archived the instance."""
    if instance.archived_at is not None:
        return None
    return task_data(ctx.cipher.unseal(instance.state, state_field(instance.id)), str(task_id))


def run_steps(workflow: CareflowWorkflow) -> StepFailure | None:
    """Run every ready engine task; a failing script/service leaves its task in ERROR. A user task now waiting
    with a due date CareFlow cannot compute (a version deployed before deploys checked it) is a failure too."""
    try:
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        return failure_from(exc)
    return bad_due_date(workflow)


def bad_due_date(workflow: CareflowWorkflow) -> StepFailure | None:
    """An incident, never a task silently without a due date: the first waiting user task whose ``dueIn`` or
    ``dueInWorkdays`` is not a valid value (fixed by deploying a corrected version and migrating the instance)."""
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        props = properties(task.task_spec)
        why = None
        if props.get("dueIn"):
            reason = duration_problem(props["dueIn"])
            why = f"dueIn {props['dueIn']!r} is not an ISO 8601 duration ({reason})" if reason else None
        workdays = props.get("dueInWorkdays")
        if why is None and workdays is not None and not workdays.strip().isdigit():
            why = f"dueInWorkdays {workdays!r} is not a whole number of working days"
        if why is not None:
            spec = task.task_spec
            return StepFailure(message=f"user task {spec.bpmn_id}: {why}; deploy a corrected version and migrate",
                               task_name=getattr(spec, "bpmn_name", None) or spec.bpmn_id, task_id=str(task.id),
                               line=None, error_type="InvalidDueDate")
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


def reready_failed_tasks(workflow: CareflowWorkflow, patch: dict[str, Any]) -> int:
    """Put every task in ERROR back to READY, then apply ``patch`` to its data.

    Re-ready first, then patch: SpiffWorkflow's ``reset_from_task_id(data=...)`` would
    overwrite the patched keys with the parent's values (research §4, bug 11).
    """
    failed = list(workflow.get_tasks(state=TaskState.ERROR))
    for task in failed:
        task._set_state(TaskState.READY)
        task.data.update(patch)
    return len(failed)


def ready_task(workflow: CareflowWorkflow, task_id: uuid.UUID) -> Task | None:
    """The READY SpiffWorkflow task with this id, or None if the process is not waiting for it."""
    task = workflow.get_task_from_id(task_id)
    return task if task is not None and task.state == TaskState.READY else None


def send_message(
    workflow: CareflowWorkflow, catcher_id: uuid.UUID, name: str, payload: dict[str, Any], values: dict[str, Any]
) -> None:
    """Deliver message ``name`` to the waiting catch task (or event-based gateway) ``catcher_id``.

    ``values`` are flat ``{property: value}``; SpiffWorkflow wants them grouped by
    correlation key: ``{key: {property: value}}``.
    """
    catcher = workflow.get_task_from_id(catcher_id)
    definition = next(d for d in projection.message_definitions(catcher.task_spec.event_definition) if d.name == name)
    # SpiffWorkflow evaluates the retrieval expressions on the payload when the event is caught; a payload without
    # the value is the sender's mistake, refused here before anything moves (it raised a bare NameError there).
    for prop in definition.correlation_properties:
        try:
            workflow.script_engine.environment.evaluate(prop.retrieval_expression, dict(payload))
        except Exception as exc:  # noqa: BLE001 - any failure of the expression on this payload
            raise InvalidInputError(
                f"message {name!r}: the payload does not carry the correlation value {prop.name!r} "
                f"({prop.retrieval_expression}): {type(exc).__name__}: {exc}",
                details={"field": f"payload.{prop.name}"}) from exc
    correlations: dict[str, dict[str, Any]] = {}
    for prop in definition.correlation_properties:
        if prop.name in values:
            for key in prop.correlation_keys:
                correlations.setdefault(key, {})[prop.name] = values[prop.name]
    workflow.send_event(BpmnEvent(definition, payload, correlations))
