"""What CareFlow can run: BPMN elements and script languages it refuses.

:func:`unsupported` lists the elements of a BPMN document that CareFlow cannot run (each with its line and
element id); the loader refuses such a file. Other modelers' extensions (Camunda, Zeebe, Signavio, ARIS...) are
mapped, ignored or refused by :mod:`engine.bpmn.interchange`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.bpmn.coverage import BUILT_ELEMENTS, refused_uses

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
# Camunda 7 forked Activiti and kept its extension names (assignee, candidateGroups, formKey, class, async, field,
# taskListener …); Flowable forked Activiti too: their extensions are read as Camunda 7's.
CAMUNDA_7_LIKE = ("http://activiti.org/bpmn", "http://flowable.org/bpmn")
# careflow:nameEn, an element's English name for the UI (docs/bpmn-conventions.md): display only, never executed.
CAREFLOW_I18N = "http://careflow.example/schema/bpmn-i18n"
# Namespaces whose attributes and elements carry no execution meaning (diagram tools, modeler metadata).
HARMLESS_NAMESPACES = {
    "http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DD/20100524/DI", "http://www.w3.org/2001/XMLSchema-instance",
    "http://camunda.org/schema/modeler/1.0", "http://bpmn.io/schema/bpmn/biocolor/1.0",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0",
    "http://www.w3.org/XML/1998/namespace", CAREFLOW_I18N,
}

# BPMN elements SpiffWorkflow does not parse, or that CareFlow would not drive correctly.
UNSUPPORTED_ELEMENTS = {
    "complexGateway": "complex gateways are not supported; use exclusive, inclusive or parallel gateways",
    "choreography": "choreographies are not executable",
    "choreographyTask": "choreographies are not executable",
    "subChoreography": "choreographies are not executable",
    "callChoreography": "choreographies are not executable",
    "globalUserTask": "global tasks are not supported; use a call activity",
    "globalScriptTask": "global tasks are not supported; use a call activity",
    "globalManualTask": "global tasks are not supported; use a call activity",
    "globalBusinessRuleTask": "global tasks are not supported; use a call activity",
}

@dataclass(frozen=True)
class Finding:
    line: int | None
    element_id: str | None
    message: str


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _namespace(tag: Any) -> str:
    return etree.QName(tag).namespace or "" if isinstance(tag, str) else ""


def _owner_id(node: Any) -> str | None:
    while node is not None:
        if node.get("id") and _namespace(node.tag) == BPMN:
            return str(node.get("id"))
        node = node.getparent()
    return None


def unsupported(root: Any) -> list[Finding]:
    """Elements (and script languages) of a parsed BPMN document that CareFlow cannot run."""
    found: list[Finding] = []
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        namespace, local = _namespace(node.tag), _local(node.tag)
        if namespace == BPMN and local in BUILT_ELEMENTS:  # run by CareFlow in the cases engine.bpmn.coverage allows
            found.extend(Finding(line, owner, message) for line, owner, message in refused_uses(node))
        elif namespace == BPMN and local in UNSUPPORTED_ELEMENTS:
            found.append(Finding(node.sourceline, _owner_id(node), f"{local}: {UNSUPPORTED_ELEMENTS[local]}"))
        elif namespace == BPMN and local == "scriptTask":
            language = (node.get("scriptFormat") or "python").lower()
            if language not in ("python", "py", "text/x-python"):
                found.append(Finding(node.sourceline, node.get("id"),
                                     f"script language {language!r} is not supported; scripts are Python"))
    return found
