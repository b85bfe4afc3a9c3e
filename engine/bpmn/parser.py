"""CareFlow's BPMN parser: SpiffWorkflow's, plus the elements CareFlow builds on top of the library.

- conditional events evaluated on the instance's latest data (``engine.bpmn.conditional``);
- link events (``engine.bpmn.links``);
- compensation boundary events, handlers and throw events (``engine.bpmn.compensation``);
- event sub-processes armed with their scope, interrupting or not (``engine.bpmn.event_subprocess``).

All of it lives in the parsed spec, which CareFlow never stores (``engine.bpmn.serializer``): an instance
restored on a re-parsed spec runs on exactly the same graph.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.spiff.parser.event_parsers import SpiffStartEventParser
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser, SpiffProcessParser

from engine.bpmn import conditional, event_subprocess
from engine.bpmn.compensation import COMPENSATE, EndParser, ThrowParser, parse_handlers
from engine.bpmn.event_subprocess import MARK, EventStart
from engine.bpmn.links import LinkCatchParser


class CareflowProcessParser(SpiffProcessParser):
    def get_boundary_events(self, attached_to_ref: str) -> list[Any]:
        # Compensation boundary events are not events the activity waits for: see engine.bpmn.compensation.
        return [node for node in super().get_boundary_events(attached_to_ref) if node.find(COMPENSATE) is None]

    def _parse(self) -> None:
        super()._parse()
        parse_handlers(self)
        conditional.install(self.spec)
        self._arm_event_subprocesses()

    def _arm_event_subprocesses(self) -> None:
        """Connect event sub-processes that the library only creates on an internal event (message, signal,
        conditional start) to the scope's start, as it does for timer starts (engine.bpmn.event_subprocess)."""
        spec, start = self.spec, self.spec.start
        for node in self.xpath("./bpmn:subProcess[@triggeredByEvent='true']"):
            task_spec = spec.task_specs.get(node.get("id"))
            sub_spec = self.parser.process_parsers[task_spec.spec].get_spec() if task_spec is not None else None
            if sub_spec is None:
                continue
            setattr(task_spec, MARK, True)
            setattr(sub_spec, MARK, True)
            if sub_spec.name in start.trigger_specs:
                start.trigger_specs.remove(sub_spec.name)
            if task_spec not in start.outputs:
                start.connect(task_spec)
                task_spec.connect(spec.end)
            for event in sub_spec.bpmn_start_events:
                event.interrupting = self._interrupting(event.bpmn_id, node)

    @staticmethod
    def _interrupting(start_id: str, subprocess_node: Any) -> bool:
        for child in subprocess_node:
            if child.get("id") == start_id:
                return str(child.get("isInterrupting", "true")).lower() == "true"
        return True


class CareflowParser(SpiffBpmnParser):
    PROCESS_PARSER_CLASS = CareflowProcessParser
    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("startEvent"): (SpiffStartEventParser, EventStart),
        full_tag("intermediateCatchEvent"): (LinkCatchParser,
                                             SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[
                                                 full_tag("intermediateCatchEvent")][1]),
        full_tag("intermediateThrowEvent"): (ThrowParser,
                                             SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[
                                                 full_tag("intermediateThrowEvent")][1]),
        full_tag("endEvent"): (EndParser, SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag("endEvent")][1]),
    }


__all__ = ["CareflowParser", "NoneEventDefinition", "event_subprocess"]


def serializer_config() -> dict[Any, Any]:
    """Converters for CareFlow's own spec and event-definition classes: specs are never stored, but the migration's
    spec diff (``engine.runtime.migration``) converts them, and any of them may sit in a stored event."""
    from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
    from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
    from SpiffWorkflow.bpmn.serializer.helpers.spec import EventDefinitionConverter
    from SpiffWorkflow.bpmn.specs.defaults import IntermediateCatchEvent, StartEvent

    from engine.bpmn.compensation import CompensationEventDefinition, CompensationThrow
    from engine.bpmn.conditional import CareflowConditional
    from engine.bpmn.links import LinkEventDefinition

    return {
        EventStart: DEFAULT_CONFIG[StartEvent],
        CompensationThrow: DEFAULT_CONFIG[IntermediateCatchEvent],
        CareflowConditional: TimerConditionalEventDefinitionConverter,
        LinkEventDefinition: EventDefinitionConverter,
        CompensationEventDefinition: EventDefinitionConverter,
    }
