"""Compensation within one process level: boundary events with their handlers, and throw events.

SpiffWorkflow 3.2.0 has no compensation: ``compensateEventDefinition`` is unknown, a compensation boundary event
is refused ("Unsupported Catch Event") and a handler (``isForCompensation``) has no incoming flow, so it is never
parsed. CareFlow builds it on top of the library:

- **Parse** (``engine.bpmn.parser``): a compensation boundary event is taken out of the activity's boundary
  events; its association names the handler, which is parsed as a task spec of its own (no flows). The process
  spec keeps ``careflow_compensation``: activity id → handler spec name.
- **Throw** (intermediate or end, with or without ``activityRef``): :class:`CompensationThrow` waits until the
  handlers of the *completed* activities of its process level (all of them, or the one named) have run, one
  after the other in reverse order of completion, each activity compensated at most once. A handler runs as a
  child of the throw task (any task type: a script, a service call, a person's task); its data flows back into
  the throw, so the path after it sees what the handlers did. Everything the throw needs between steps is in its
  internal data (``careflow_compensation``), so a save and restore between two handlers loses nothing.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import IntermediateCatchEvent
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.spiff.parser.event_parsers import SpiffEndEventParser, SpiffIntermediateThrowEventParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.links import LinkThrowParser

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
COMPENSATE = f"{{{BPMN_NS}}}compensateEventDefinition"
STATE = "careflow_compensation"  # internal data of the throw task: {"queue": [task ids], "running": task id}
DONE = "careflow_compensated"  # internal data of a compensated activity's task


class CompensationEventDefinition(EventDefinition):
    """Compensate the completed activities of this process level (or only ``activity``); done when their
    handlers have run."""

    def __init__(self, activity: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activity = activity

    def has_fired(self, my_task: Any) -> bool:
        state = my_task.internal_data.get(STATE)
        if state is None:
            state = {"queue": [str(t.id) for t in compensable(my_task.workflow, self.activity)], "running": None}
        if state["running"] is not None:
            child = my_task.workflow.get_task_from_id(uuid.UUID(state["running"]))
            if child is not None and not child.has_state(TaskState.FINISHED_MASK):
                my_task._set_internal_data(**{STATE: state})
                return False
            if child is not None and child.state == TaskState.COMPLETED:
                my_task.data.update(child.data)
            state["running"] = None
        if state["queue"]:
            target = my_task.workflow.get_task_from_id(uuid.UUID(state["queue"].pop(0)))
            handler = my_task.workflow.spec.task_specs[my_task.workflow.spec.careflow_compensation[
                target.task_spec.bpmn_id]]
            target._set_internal_data(**{DONE: True})
            child = my_task._add_child(handler, TaskState.FUTURE)
            child.triggered = True  # kept when the throw task syncs its children with its outputs
            child.data = copy.deepcopy(my_task.data)
            state["running"] = str(child.id)
            my_task._set_internal_data(**{STATE: state})
            child._ready()
            return False
        my_task._set_internal_data(**{STATE: state})
        return True

    def reset(self, my_task: Any) -> None:
        return None

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


class CompensationThrow(IntermediateCatchEvent):
    """An intermediate or end compensation throw event: it waits (in the event manager, so
    ``CareflowWorkflow.do_engine_steps`` looks at it again after each run) until its handlers are done."""


def compensable(workflow: Any, activity: str | None) -> list[Any]:
    """Completed, not yet compensated tasks of this process level that have a handler, the last completed first."""
    handlers = getattr(workflow.spec, "careflow_compensation", {})
    found = [task for task in workflow.tasks.values()
             if task.state == TaskState.COMPLETED and task.task_spec.bpmn_id in handlers
             and (activity is None or task.task_spec.bpmn_id == activity)
             and not task.internal_data.get(DONE)]
    return sorted(found, key=lambda task: task.last_state_change, reverse=True)


def waiting_throws(workflow: Any) -> list[Any]:
    return [task for task in list(workflow.event_manager.tasks.values())
            if task.state == TaskState.WAITING and isinstance(task.task_spec, CompensationThrow)]


def advance(workflow: Any) -> int:
    """Look at every waiting compensation throw again (a handler may have finished); how many are now done."""
    done = 0
    for task in waiting_throws(workflow):
        task.task_spec._update(task)
        if task.state == TaskState.READY:
            done += 1
    return done


def _definition(node: Any) -> CompensationEventDefinition | None:
    found = node.find(COMPENSATE)
    if found is None:
        return None
    return CompensationEventDefinition(found.get("activityRef") or None, name=node.get("id"),
                                       description="Compensation")


class ThrowParser(LinkThrowParser):
    """Intermediate throw events: compensation (CareFlow), links (CareFlow) and the library's own."""

    def create_task(self) -> Any:
        definition = _definition(self.node)
        if definition is None:
            return super().create_task()
        return CompensationThrow(self.spec, self.bpmn_id, event_definition=definition, **self.bpmn_attributes)


class EndParser(SpiffEndEventParser):
    def create_task(self) -> Any:
        definition = _definition(self.node)
        if definition is None:
            return super().create_task()
        task = CompensationThrow(self.spec, self.bpmn_id, event_definition=definition, **self.bpmn_attributes)
        task.connect(self.spec.end)
        return task


def parse_handlers(process_parser: Any) -> None:
    """Find the compensation boundary events of this process level, parse their handlers and record
    activity id → handler spec name on the spec."""
    spec = process_parser.spec
    mapping: dict[str, str] = {}
    for boundary in process_parser.xpath("./bpmn:boundaryEvent[bpmn:compensateEventDefinition]"):
        activity = boundary.get("attachedToRef")
        targets = [a.get("targetRef") for a in process_parser.xpath("./bpmn:association")
                   if a.get("sourceRef") == boundary.get("id")]
        if len(targets) != 1 or process_parser.get_node_by_id(targets[0]) is None:
            from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

            raise ValidationException("a compensation boundary event needs exactly one association to its handler",
                                      node=boundary, file_name=process_parser.filename)
        handler = process_parser.parse_node(process_parser.get_node_by_id(targets[0]))
        if not handler.inputs:  # the library checks that a task about to be ready has an input; it has no flow
            handler.inputs = [spec.start]
        mapping[str(activity)] = handler.name
    spec.careflow_compensation = mapping


__all__ = ["CompensationThrow", "EndParser", "ThrowParser", "advance", "compensable", "parse_handlers"]
_ = SpiffIntermediateThrowEventParser  # the library's parser CareFlow's ThrowParser extends (through links)
