"""Moving a running instance's state onto another deployed version of its process.

SpiffWorkflow 3.2 ships the pieces (``SpiffWorkflow.bpmn.util.diff``): a spec diff that aligns
task specs by BPMN id, and ``migrate_workflow``, which points every task at its counterpart and
re-predicts the branches that wait. This is what spiff-arena's instance migration builds on.
CareFlow adds the rule that makes it safe for people's work: every task an instance is waiting
in (ready, waiting, started or failed) must exist in the target version with the same id and the
same kind of task, and every step it has already taken must still exist (the stored state names
its steps). :func:`check` says, task by task, whether that holds; :func:`migrate` does it in
memory and proves that the result can be stored and restored onto the target spec.

Ready tasks keep their SpiffWorkflow ids, so the inbox rows, claims and comments stay; a waiting
timer is re-armed from the migration time (its branch is re-predicted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import Session

from engine.bpmn.extensions import task_title, user_task_config
from engine.bpmn.loader import ParsedBundle
from engine.bpmn.serializer import SERIALIZER, dump_state, load_state
from engine.db.models import InstanceLike
from engine.runtime import rows

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
TAKEN = TaskState.COMPLETED | TaskState.CANCELLED


@dataclass(frozen=True)
class TaskMapping:
    """One task the instance waits in, and whether the target version has it."""

    element_id: str
    title: str
    kind: str
    state: str
    maps: bool
    reason: str | None = None


@dataclass(frozen=True)
class MigrationCheck:
    tasks: tuple[TaskMapping, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def compatible(self) -> bool:
        return not self.problems and all(t.maps for t in self.tasks)


def _spec_for(task: Any, target: ParsedBundle) -> Any:
    """The target process spec that ``task``'s workflow (top level or a subprocess) runs on."""
    name = task.workflow.spec.name
    if task.workflow is task.workflow.top_workflow:
        return target.spec
    return target.subprocess_specs.get(name)


def check(workflow: Any, target: ParsedBundle) -> MigrationCheck:
    """Which of the instance's current tasks map onto ``target``, and why not when they don't."""
    mappings: list[TaskMapping] = []
    problems: list[str] = []
    for task in workflow.get_tasks():
        spec = task.task_spec
        element = getattr(spec, "bpmn_id", None)
        if not element:
            continue  # internal specs (start, end, boundary splits) follow their BPMN element
        counterpart_spec = _spec_for(task, target)
        counterpart = counterpart_spec.task_specs.get(spec.name) if counterpart_spec is not None else None
        if task.has_state(ACTIVE):
            mappings.append(_mapping(task, counterpart))
        elif task.has_state(TAKEN) and counterpart is None:
            problems.append(f"step {element!r} ({task_title(spec)}) was already taken and no longer exists; "
                            "the instance's history would be lost")
    if not problems and all(m.maps for m in mappings):
        try:
            copy = load_state(dump_state(workflow), workflow.spec, workflow.subprocess_specs, workflow.script_engine)
            migrate(copy, target)
        except Exception as exc:  # noqa: BLE001 - any failure of the in-memory attempt means: do not migrate
            problems.append(f"the state could not be moved: {type(exc).__name__}: {exc}")
    return MigrationCheck(tuple(mappings), tuple(problems))


def _mapping(task: Any, counterpart: Any) -> TaskMapping:
    spec = task.task_spec
    kind = type(spec).__name__
    state = TaskState.get_name(task.state).lower()
    base = {"element_id": spec.bpmn_id, "title": task_title(spec), "kind": kind, "state": state}
    if counterpart is None:
        return TaskMapping(**base, maps=False, reason="no element with this id in the target version")
    if type(counterpart).__name__ != kind:
        return TaskMapping(**base, maps=False, reason=f"it is a {type(counterpart).__name__} in the target version")
    return TaskMapping(**base, maps=True)


def migrate(workflow: Any, target: ParsedBundle) -> Any:
    """The workflow moved onto ``target``'s specs (``workflow`` itself is changed and must be dropped).

    Call :func:`check` first: this assumes the instance is compatible. The result is the state
    stored and restored onto the target spec, which proves that it can be.
    """
    top, subprocess_diffs = diff_workflow(SERIALIZER.registry, workflow, target.spec, target.subprocess_specs)
    for sp_id, diff in subprocess_diffs.items():
        sub = workflow.subprocesses[sp_id]
        if diff is None:
            raise ValueError(f"the target version has no subprocess {sub.spec.name!r}")
        migrate_workflow(diff, sub, target.subprocess_specs[sub.spec.name])
    migrate_workflow(top, workflow, target.spec)
    workflow.subprocess_specs = target.subprocess_specs
    # The stored form must restore onto the target spec, or nothing may be saved.
    return load_state(dump_state(workflow), target.spec, target.subprocess_specs, workflow.script_engine)


def refresh_task_rows(session: Session, instance: InstanceLike, workflow: Any) -> None:
    """Open task rows that survive a migration take the target version's title, form and lane."""
    ready = {task.id: task for task in workflow.get_tasks(state=TaskState.READY, manual=True)}
    for task_id in rows.open_task_ids(session, instance.id):
        task = ready.get(task_id)
        if task is not None:
            rows.write_presentation(session, task_id, title=task_title(task.task_spec),
                                    form_key=user_task_config(task.task_spec).form_key,
                                    lane=getattr(task.task_spec, "lane", None))
