"""Stored workflow state: SpiffWorkflow's serializer with the spec left out.

The parsed spec is 57–93 % of SpiffWorkflow's JSON and is identical for every instance
of a definition version, so CareFlow stores only the tasks and data and injects the
cached spec on load. The stored document carries two versions: ``STATE_VERSION`` (this
envelope, upgraded by :data:`UPGRADES`) and SpiffWorkflow's own serializer version
(upgraded by SpiffWorkflow's migrations).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.deep_merge import DeepMerge

from engine.bpmn.parser import serializer_config
from engine.bpmn.timers import ClockedCycle, ClockedDuration, ClockedTimeDate
from engine.bpmn.workflow import CareflowWorkflow

STATE_VERSION = 1


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leaves ``spec``/``subprocess_specs`` out of the dict and takes them as arguments on restore."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        if spec is None:
            raise ValueError("a stored CareFlow state needs its definition's spec to be restored")
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _uuid(value: str) -> Any:
    from uuid import UUID

    return UUID(value)


def _build_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config.pop(BpmnWorkflow, None)
    config[CareflowWorkflow] = SpeclessWorkflowConverter
    for cls in (ClockedTimeDate, ClockedDuration, ClockedCycle):
        config[cls] = TimerConditionalEventDefinitionConverter
    config.update(serializer_config())  # the elements CareFlow builds on top of the library (engine/bpmn/parser.py)
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer(registry)


SERIALIZER = _build_serializer()

# STATE_VERSION n -> n+1 upgrades of the envelope/document (none yet: version 1 is the first).
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def dump_state(workflow: Any) -> str:
    """Serialize a workflow (without its spec) to the stored JSON text."""
    SERIALIZER.registry._encoder_mode = True
    try:
        document = SERIALIZER.to_dict(workflow)
    finally:
        SERIALIZER.registry._encoder_mode = False
    document[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
    envelope = {"careflow_state": STATE_VERSION, "workflow": document}
    return json.dumps(envelope, cls=SERIALIZER._encoder_cls, separators=(",", ":"))


def _document(text: str) -> dict[str, Any]:
    """The stored workflow document, upgraded to the current formats (ours and SpiffWorkflow's)."""
    envelope = json.loads(text)
    version = envelope.get("careflow_state")
    if not isinstance(version, int) or version > STATE_VERSION:
        raise ValueError(f"unsupported stored state version {version!r}")
    while version < STATE_VERSION:
        envelope = UPGRADES[version](envelope)
        version = envelope["careflow_state"]
    document: dict[str, Any] = envelope["workflow"]
    SERIALIZER.migrate(document)
    return document


def load_state(text: str, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any) -> Any:
    """Restore a stored workflow onto the cached spec, upgrading old formats on the way."""
    workflow = SERIALIZER.registry.restore(_document(text), spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow


def task_data(text: str, task_id: str) -> dict[str, Any] | None:
    """One task's data from a stored state, without restoring the workflow (None: no such task).

    SpiffWorkflow stores the root task's data whole and every other task's as a delta on its parent's
    (``TaskConverter``): the task's data is the root's with each delta down the chain applied, as
    ``TaskConverter.from_dict`` does while it rebuilds the whole tree.
    """
    document = _document(text)
    for tasks in (document["tasks"], *(sub["tasks"] for sub in document.get("subprocesses", {}).values())):
        if task_id in tasks:
            chain = [tasks[task_id]]
            while chain[-1].get("parent") in tasks:
                chain.append(tasks[chain[-1]["parent"]])
            data: dict[str, Any] = SERIALIZER.registry.restore(chain.pop()["data"])
            for dct in reversed(chain):
                delta = dct.get("delta")
                if not delta:
                    data = SERIALIZER.registry.restore(dct["data"])
                    continue
                data = DeepMerge.merge({}, data)
                data.update(SERIALIZER.registry.restore(delta.get("updates", {})))
                for key in delta.get("deletions", ()):
                    data.pop(key, None)
            return data
    return None
