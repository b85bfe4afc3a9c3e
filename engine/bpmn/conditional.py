"""Conditional events (start in an event sub-process, intermediate catch, boundary), run end to end.

SpiffWorkflow 3.2.0 parses ``conditionalEventDefinition`` but evaluates the condition only when the waiting
task is first reached: nothing looks at it again when the instance's data changes, so a false condition waits
forever (docs/spiffworkflow.md §6). CareFlow:

- replaces the library's definition with :class:`CareflowConditional`, which evaluates the condition on the
  *instance's latest data* (the waiting task's own data overlaid with the data of the step completed last at
  its process level: a parallel branch's change, a message's payload, a completed form) and fires on a change
  from false to true, so a non-interrupting boundary or event sub-process does not fire again and again while
  the condition stays true;
- re-evaluates every waiting conditional event after each run of the engine (:func:`reevaluate`, called from
  ``CareflowWorkflow.do_engine_steps``): a task completed, a message delivered, a timer fired, a retry. Only
  instances that wait on a conditional event pay for it (the waiting events are the library's event manager,
  a small dict already in memory).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

LAST = "careflow_condition_last"  # internal data: the condition's value at its last evaluation
REARMED = "careflow_rearmed"  # internal data of a non-interrupting event sub-process armed again after it fired


class CareflowConditional(ConditionalEventDefinition):
    """A condition evaluated on the instance's latest data, firing on false → true."""

    def has_fired(self, my_task: Any) -> bool:
        if my_task._get_internal_data("event_fired", False):
            return True
        data = latest_data(my_task)
        try:
            value = bool(my_task.workflow.script_engine.environment.evaluate(self.expression, data))
        except SpiffWorkflowException:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the designer's condition is the task's error
            raise WorkflowTaskException(f"Error evaluating condition '{self.expression}'", task=my_task,
                                        exception=exc) from exc
        before = my_task.internal_data.get(LAST)
        if before is None and _rearmed(my_task):
            before = True
        my_task._set_internal_data(**{LAST: value})
        if value and before is not True:
            my_task._set_internal_data(event_fired=True)
            my_task.data.update(data)  # the catch goes on with the data that made it fire
            return True
        return False

    def reset(self, my_task: Any) -> None:
        my_task._set_internal_data(event_fired=False)


def _rearmed(task: Any) -> bool:
    workflow = task.workflow
    if getattr(workflow, "parent_task_id", None) is None:
        return False
    holder = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
    return bool(holder is not None and holder.internal_data.get(REARMED))


def latest_data(task: Any) -> dict[str, Any]:
    """The task's data overlaid with the data of the last completed step at its level (or its parent's, for the
    start event of an event sub-process, which waits in a child workflow of its own)."""
    merged = dict(task.data)
    workflow = task.workflow
    levels = [workflow]
    parent = getattr(workflow, "parent_workflow", None)
    if parent is not None and getattr(workflow.spec, "careflow_event_subprocess", False):
        levels.insert(0, parent)
    for level in levels:
        last = _last_completed(level)
        if last is not None:
            merged.update(last.data)
    merged.update(getattr(workflow, "data_objects", {}) or {})
    return merged


def _last_completed(workflow: Any) -> Any:
    best = None
    for task in workflow.tasks.values():
        if task.state == TaskState.COMPLETED and task.parent is not None and (
                best is None or task.last_state_change >= best.last_state_change):
            best = task
    return best


def waiting_conditionals(workflow: Any) -> list[Any]:
    found = []
    for task in list(workflow.event_manager.tasks.values()):
        if task.state == TaskState.WAITING and isinstance(task.task_spec.event_definition, CareflowConditional):
            found.append(task)
    return found


def reevaluate(workflow: Any) -> int:
    """Evaluate every waiting conditional event again; how many fired (became ready)."""
    fired = 0
    for task in waiting_conditionals(workflow):
        if task.state != TaskState.WAITING:  # an earlier one in this loop interrupted it
            continue
        task.task_spec._update(task)
        if task.state == TaskState.READY:
            fired += 1
    return fired


def install(spec: Any) -> None:
    """Swap the library's conditional definitions of a parsed process for CareFlow's."""
    for task_spec in spec.task_specs.values():
        definition: Any = getattr(task_spec, "event_definition", None)
        if definition is not None and type(definition) is ConditionalEventDefinition:
            task_spec.event_definition = CareflowConditional(definition.expression, name=definition.name,
                                                             description=definition.description)
