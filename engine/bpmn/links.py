"""Link events: an intermediate throw event goes on at the intermediate catch event of the same link name.

SpiffWorkflow 3.2.0 does not know ``linkEventDefinition``: it parses a link throw as a plain (none) throw and
never reaches a link catch, which has no incoming flow. CareFlow's parser makes the catch the throw's target
within the same process level (:class:`LinkThrowParser`), so the parsed spec is an ordinary sequence: nothing
of it is in the stored state, and a restored instance runs on the re-parsed spec exactly as before.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffIntermediateCatchEventParser,
    SpiffIntermediateThrowEventParser,
)

LINK = "{http://www.omg.org/spec/BPMN/20100524/MODEL}linkEventDefinition"


class LinkEventDefinition(EventDefinition):
    """A link: the throw hands the token straight to its catch (no event travels)."""

    def has_fired(self, my_task: Any) -> bool:
        return True

    def throw(self, my_task: Any) -> None:
        return None


def link_name(node: Any) -> str | None:
    """The link name of a link event node (its definition's ``name``, else the event's), or None if not a link."""
    definition = node.find(LINK)
    if definition is None:
        return None
    return str(definition.get("name") or node.get("name") or "") or None


class LinkCatchParser(SpiffIntermediateCatchEventParser):
    def create_task(self) -> Any:
        if self.node.find(LINK) is not None:
            return self._create_task(LinkEventDefinition(link_name(self.node), description="Link"))
        return super().create_task()


class LinkThrowParser(SpiffIntermediateThrowEventParser):
    def create_task(self) -> Any:
        if self.node.find(LINK) is not None:
            return self._create_task(LinkEventDefinition(link_name(self.node), description="Link"))
        return super().create_task()

    def parse_node(self) -> Any:
        task = super().parse_node()
        name = link_name(self.node)
        if name is None:
            return task
        if self.process_parser.get_outgoing_sequence_flows(self.bpmn_id):
            self.raise_validation_exception("a link throw event has no outgoing sequence flow; its link goes on")
        catches = [node for node in self.process_parser.xpath("./bpmn:intermediateCatchEvent")
                   if link_name(node) == name]
        if len(catches) != 1:
            found = "no" if not catches else f"{len(catches)}"
            self.raise_validation_exception(
                f"link {name!r}: {found} intermediate catch events with this link name in the same process "
                "(exactly one is needed)")
        self.task.connect(self.process_parser.parse_node(catches[0]))
        return task
