"""Event sub-processes started by a message or a condition, interrupting or not.

SpiffWorkflow 3.2.0 starts an event sub-process with a message (or signal, or conditional) start event only when a
matching event is thrown *inside* the instance: the sub-process does not exist until then, so no task waits for
the message, CareFlow's ``message_subscription`` has nothing to project and a message from outside can never
reach it; a conditional start is never evaluated. ``isInterrupting`` is ignored altogether, and an armed event
sub-process (the library arms timer starts) keeps its process from ever completing, because the end join waits
for every unfinished task.

CareFlow arms every event sub-process when its parent scope starts (``engine.bpmn.parser``): its start event
waits like any catch event, so a message start gets its subscription (and correlation) through the ordinary
projection and a conditional start is re-evaluated after each step. When the start event fires
(:class:`EventStart`), an interrupting event sub-process cancels the rest of its scope; a non-interrupting one
leaves the scope running and arms itself again for the next occurrence. Once nothing but armed, unfired event
sub-processes is left in a scope, they are cancelled so the scope completes (:func:`disarm_idle`).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import StartEvent
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.conditional import REARMED

MARK = "careflow_event_subprocess"  # on the event sub-process's spec (a BpmnProcessSpec) and its task spec


class EventStart(StartEvent):
    """A start event; in an event sub-process, firing it interrupts its scope or re-arms the sub-process."""

    interrupting: bool = True

    def _run_hook(self, my_task: Any) -> Any:
        result = super()._run_hook(my_task)
        workflow = my_task.workflow
        if getattr(workflow.spec, MARK, False) and workflow.parent_task_id is not None:
            holder = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
            if holder is not None:
                if self.interrupting:
                    _interrupt(holder)
                else:
                    _rearm(holder)
        return result


def _branch_head(holder: Any) -> Any:
    """The child of its scope's Start task that holds ``holder`` (the event sub-process task itself)."""
    task = holder
    while task.parent is not None and task.parent.task_spec.name != "Start":
        task = task.parent
    return task


def _interrupt(holder: Any) -> None:
    head = _branch_head(holder)
    if head.parent is None:
        return
    for sibling in list(head.parent.children):
        if sibling is not head:
            sibling.cancel()  # a finished task cancels its unfinished descendants


def _rearm(holder: Any) -> None:
    start = _branch_head(holder).parent
    if start is None:
        return
    child = start._add_child(holder.task_spec, TaskState.FUTURE)
    child.triggered = True
    # A condition that fired is still true: the new start waits for it to turn false and true again.
    child._set_internal_data(**{REARMED: True})
    child.task_spec._update(child)  # creates the new sub-process; its start event waits


def _unfired(sub: Any) -> bool:
    return not any(t.state == TaskState.COMPLETED and isinstance(t.task_spec, StartEvent) for t in sub.tasks.values())


def disarm_idle(workflow: Any) -> int:
    """In every scope where only armed event sub-processes (and the end join) are left unfinished, cancel them and
    let the scope complete; how many were cancelled. Costs nothing for an instance without event sub-processes."""
    armed_by_level: dict[int, tuple[Any, list[Any]]] = {}
    for sub in list(workflow.subprocesses.values()):
        if sub.completed or not getattr(sub.spec, MARK, False) or not _unfired(sub):
            continue
        holder = workflow.get_task_from_id(sub.parent_task_id)
        if holder is not None and holder.state == TaskState.STARTED:
            armed_by_level.setdefault(id(holder.workflow), (holder.workflow, []))[1].append(holder)
    cancelled = 0
    for level, armed in armed_by_level.values():
        end_names = {level.spec.end.name, "End"}
        unfinished = [t for t in level.tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)]
        busy = [t for t in unfinished if t not in armed and t.task_spec.name not in end_names
                and not any(a in _ancestors(t) for a in armed)]
        if busy:
            continue
        for task in armed:
            task.cancel()
            cancelled += 1
        for join in [t for t in level.tasks.values() if t.task_spec.name == level.spec.end.name
                     and t.has_state(TaskState.NOT_FINISHED_MASK)]:
            join.task_spec._update(join)
    return cancelled


def _ancestors(task: Any) -> list[Any]:
    found = []
    while task.parent is not None:
        task = task.parent
        found.append(task)
    return found
