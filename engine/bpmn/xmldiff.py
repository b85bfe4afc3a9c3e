"""Semantic diff of two BPMN documents: elements added, removed and changed (diagram layout ignored).

Elements are matched by id. An element is a flow node, a sequence flow or a lane (whatever sits
directly in a process, sub-process or lane set); its own event definitions, scripts, conditions
and extension properties count as part of it, its nested flow elements do not (they are compared
on their own). Moving a shape on the diagram is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess", "laneSet"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


@dataclass(frozen=True)
class ElementChange:
    element_id: str
    kind: str
    name: str
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BpmnDiff:
    added: tuple[ElementChange, ...]
    removed: tuple[ElementChange, ...]
    changed: tuple[ElementChange, ...]


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _elements(xml: str) -> dict[str, Any]:
    root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    found = {}
    for node in root.iter(f"{{{BPMN}}}*"):
        parent = node.getparent()
        if node.get("id") and parent is not None and _local(parent.tag) in CONTAINERS and _local(node.tag) != "laneSet":
            found[str(node.get("id"))] = node
    return found


# Attributes at their BPMN schema default mean the same as leaving them out (bpmn-js leaves them out).
DEFAULTS = {"cancelActivity": "true", "isInterrupting": "true", "parallelMultiple": "false",
            "isForCompensation": "false", "startQuantity": "1", "completionQuantity": "1", "isImmediate": "false",
            "triggeredByEvent": "false", "isClosed": "false", "gatewayDirection": "Unspecified", "method": "##unspecified"}


def _own_parts(node: Any) -> dict[str, bytes]:
    """The element's attributes and its non-element children, canonicalized, by part name."""
    parts: dict[str, bytes] = {f"@{etree.QName(k).localname}": v.encode() for k, v in node.attrib.items()
                               if DEFAULTS.get(etree.QName(k).localname) != v}
    for index, child in enumerate(node):
        if not isinstance(child.tag, str) or (child.get("id") and _local(node.tag) in CONTAINERS):
            continue
        key = _local(child.tag)
        if key in ("incoming", "outgoing"):
            continue  # implied by the sequence flows, which are compared themselves
        parts[key if key not in parts else f"{key}#{index}"] = etree.tostring(child, method="c14n", exclusive=True)
    return parts


def _describe(node: Any) -> ElementChange:
    return ElementChange(str(node.get("id")), _local(node.tag), str(node.get("name") or ""))


def diff_bpmn(old_xml: str, new_xml: str) -> BpmnDiff:
    """What changed from ``old_xml`` to ``new_xml``. Raises lxml's XMLSyntaxError on malformed input."""
    old, new = _elements(old_xml), _elements(new_xml)
    added = tuple(_describe(new[i]) for i in new if i not in old)
    removed = tuple(_describe(old[i]) for i in old if i not in new)
    changed = []
    for element_id in (i for i in new if i in old):
        before, after = old[element_id], new[element_id]
        if _local(before.tag) != _local(after.tag):
            labels = ["type"]
        else:
            a, b = _own_parts(before), _own_parts(after)
            labels = sorted({k.lstrip("@").split("#")[0] for k in a.keys() | b.keys() if a.get(k) != b.get(k)})
        if labels:
            changed.append(ElementChange(element_id, _local(after.tag), str(after.get("name") or ""), tuple(labels)))
    return BpmnDiff(added, removed, tuple(changed))
