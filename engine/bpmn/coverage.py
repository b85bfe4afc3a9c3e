"""Which uses of the BPMN elements CareFlow builds on top of SpiffWorkflow it runs, and which it still refuses.

Conditional, link and compensation event definitions run in the cases of ``engine.bpmn.conditional``,
``engine.bpmn.links``, ``engine.bpmn.compensation`` and ``engine.bpmn.event_subprocess``; every other use is
refused at deploy with its element and line (``engine.bpmn.compat.unsupported`` calls :func:`refused_uses`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.bpmn.scripting import check_script

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BUILT_ELEMENTS = frozenset({"conditionalEventDefinition", "linkEventDefinition", "compensateEventDefinition"})


def _tag(node: Any) -> str:
    tag = node.tag if isinstance(node.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _in_event_subprocess(node: Any) -> bool:
    parent = node.getparent()
    while parent is not None:
        if _tag(parent) == "subProcess" and parent.get("triggeredByEvent") == "true":
            return True
        if _tag(parent) == "process":
            return False
        parent = parent.getparent()
    return False


def refused_uses(definition: Any) -> Iterator[tuple[int | None, str | None, str]]:
    """(line, element id, why) for each use of ``definition`` (one of :data:`BUILT_ELEMENTS`) CareFlow cannot run."""
    event = definition.getparent()
    if event is None:
        return
    kind, owner, line = _tag(definition), event.get("id"), definition.sourceline
    event_tag = _tag(event)
    if kind == "conditionalEventDefinition":
        if event_tag == "startEvent" and not _in_event_subprocess(event):
            yield line, owner, ("conditionalEventDefinition: a conditional start event runs only in an event "
                                "sub-process; start the process when the condition holds (a message or timer start)")
        elif event_tag not in ("startEvent", "intermediateCatchEvent", "boundaryEvent"):
            yield line, owner, f"conditionalEventDefinition: not valid on a {event_tag}"
        condition = definition.find(f"{{{BPMN}}}condition")
        source = (condition.text or "").strip() if condition is not None else ""
        if not source:
            yield line, owner, "conditionalEventDefinition: the condition is empty"
        for at, message in check_script(source, "eval") if source else []:
            yield (condition.sourceline if condition is not None else line), owner, (
                f"conditionalEventDefinition: the condition {source!r} does not compile: {message}"
                + (f" (line {at} of the condition)" if at and at > 1 else ""))
    elif kind == "linkEventDefinition":
        if event_tag not in ("intermediateThrowEvent", "intermediateCatchEvent"):
            yield line, owner, f"linkEventDefinition: link events are intermediate events, not a {event_tag}"
    elif kind == "compensateEventDefinition":
        if event_tag == "startEvent" or _in_event_subprocess(event):
            yield line, owner, ("compensateEventDefinition: compensation from an event sub-process (another process "
                                "level) is not supported; throw it in the process whose activities it compensates")
        elif event_tag == "boundaryEvent" and event.get("cancelActivity") == "false":
            return
        activity = definition.get("activityRef")
        if activity and event_tag in ("intermediateThrowEvent", "endEvent"):
            level = event.getparent()
            if not any(child.get("id") == activity for child in level):
                yield line, owner, (f"compensateEventDefinition: activity {activity!r} is not in the same process "
                                    "level; compensation runs within one process level")
