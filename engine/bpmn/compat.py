"""What CareFlow can run, and files from other modelers (Camunda Modeler, Zeebe, Signavio, Flowable...).

:func:`unsupported` lists the elements and extensions of a BPMN document that CareFlow cannot run
(each with its line and element id); the loader refuses such a file. :func:`convert_foreign`
rewrites the extensions CareFlow has an equivalent for into its own ``spiffworkflow:`` dialect
(``camunda:formKey`` → ``formKey``, ``camunda:candidateGroups`` → ``candidateGroups``, an external
task topic or a Zeebe job type → a service handler ...) and drops what only describes a diagram
or another engine's deployment (``camunda:asyncBefore``, Signavio metadata). What is left over and
would change how the process runs (listeners, input/output mappings, Java delegates, scripts in
other languages) is reported by :func:`unsupported`, never silently dropped.
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
# careflow:nameEn, an element's English name for the UI (docs/bpmn-conventions.md): display only, never executed.
CAREFLOW_I18N = "http://careflow.example/schema/bpmn-i18n"
# Namespaces whose attributes and elements carry no execution meaning (diagram tools, modeler metadata).
HARMLESS_NAMESPACES = {
    "http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DD/20100524/DI", "http://www.w3.org/2001/XMLSchema-instance",
    "http://camunda.org/schema/modeler/1.0", "http://bpmn.io/schema/bpmn/biocolor/1.0",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0", "http://www.signavio.com",
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

# camunda:/zeebe: attributes that only concern their engine's job executor, history or versioning.
IGNORED_FOREIGN_ATTRIBUTES = {
    "asyncBefore", "asyncAfter", "exclusive", "jobPriority", "historyTimeToLive", "versionTag", "isStartableInTasklist",
    "taskPriority", "failedJobRetryTimeCycle", "initiator", "modelerTemplate", "modelerTemplateVersion",
}
# camunda: attributes of a user task → CareFlow property of the same meaning.
USER_TASK_ATTRIBUTES = {"formKey": "formKey", "candidateGroups": "candidateGroups", "candidateUsers": "candidateUsers",
                        "priority": "priority"}


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


def _prefix(namespace: str) -> str:
    return {CAMUNDA: "camunda", ZEEBE: "zeebe"}.get(namespace, namespace)


def unsupported(root: Any) -> list[Finding]:
    """Elements and extensions of a parsed BPMN document that CareFlow cannot run."""
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
        elif namespace not in (BPMN, SPIFF) and namespace not in HARMLESS_NAMESPACES and _in_extensions(node):
            found.append(Finding(node.sourceline, _owner_id(node),
                                 f"extension <{_prefix(namespace)}:{local}> is not understood by CareFlow"))
        for name in node.attrib:
            attribute_ns = _namespace(name)
            if attribute_ns and attribute_ns not in HARMLESS_NAMESPACES and attribute_ns != SPIFF:
                if _local(name) not in IGNORED_FOREIGN_ATTRIBUTES:
                    found.append(Finding(node.sourceline, _owner_id(node),
                                         f"attribute {_prefix(attribute_ns)}:{_local(name)} is not understood by "
                                         "CareFlow"))
    return found


def _in_extensions(node: Any) -> bool:
    parent = node.getparent()
    while parent is not None:
        if _namespace(parent.tag) == BPMN and _local(parent.tag) == "extensionElements":
            return True
        if _namespace(parent.tag) != BPMN and _namespace(parent.tag) not in (SPIFF,):
            parent = parent.getparent()
            continue
        return False
    return False


def convert_foreign(root: Any) -> list[str]:
    """Rewrite Camunda/Zeebe extensions that have a CareFlow equivalent, in place; returns what was mapped."""
    notes: list[str] = []
    for node in list(root.iter()):
        if not isinstance(node.tag, str) or _namespace(node.tag) != BPMN:
            continue
        local = _local(node.tag)
        props: dict[str, str] = {}
        for name in list(node.attrib):
            ns, attr = _namespace(name), _local(name)
            if ns not in (CAMUNDA, ZEEBE):
                continue
            if attr in IGNORED_FOREIGN_ATTRIBUTES:
                del node.attrib[name]
            elif local == "userTask" and attr in USER_TASK_ATTRIBUTES:
                props[USER_TASK_ATTRIBUTES[attr]] = node.attrib.pop(name)
            elif local in ("serviceTask", "sendTask") and attr == "topic" and node.get(f"{{{CAMUNDA}}}type") in (
                    "external", None):
                _set_operator(node, node.attrib.pop(name))
                node.attrib.pop(f"{{{CAMUNDA}}}type", None)
        extensions = node.find(f"{{{BPMN}}}extensionElements")
        if extensions is not None:
            _convert_extensions(node, extensions, props)
        if props:
            _set_properties(node, props)
            notes.extend(f"{node.get('id')}: {key} = {value}" for key, value in sorted(props.items()))
    # Declare spiffworkflow: once on the root (not ns0: on every element) and drop declarations now unused.
    etree.cleanup_namespaces(root, top_nsmap={"spiffworkflow": SPIFF})
    return notes


def _convert_extensions(node: Any, extensions: Any, props: dict[str, str]) -> None:
    for child in list(extensions):
        ns, local = _namespace(child.tag), _local(child.tag)
        if ns == ZEEBE and local == "formDefinition" and (child.get("formKey") or child.get("formId")):
            props["formKey"] = str(child.get("formKey") or child.get("formId"))
        elif ns == ZEEBE and local == "assignmentDefinition":
            for attr in ("candidateGroups", "candidateUsers"):
                if child.get(attr):
                    props[attr] = str(child.get(attr))
        elif ns == ZEEBE and local == "taskDefinition" and child.get("type"):
            _set_operator(node, str(child.get("type")))
        elif ns in (CAMUNDA, ZEEBE) and local == "properties":
            for item in child:
                if item.get("name") and item.get("value") is not None:
                    props[str(item.get("name"))] = str(item.get("value"))
        elif ns == "http://www.signavio.com":
            pass  # documentation metadata: harmless, dropped below
        else:
            continue
        extensions.remove(child)


def _spiff_extensions(node: Any) -> Any:
    extensions = node.find(f"{{{BPMN}}}extensionElements")
    if extensions is None:
        extensions = etree.Element(f"{{{BPMN}}}extensionElements")
        after = [i for i, child in enumerate(node) if _local(child.tag) in ("documentation",)]
        node.insert(after[-1] + 1 if after else 0, extensions)
    return extensions


def _set_properties(node: Any, props: dict[str, str]) -> None:
    extensions = _spiff_extensions(node)
    holder = extensions.find(f"{{{SPIFF}}}properties")
    if holder is None:
        holder = etree.SubElement(extensions, f"{{{SPIFF}}}properties")
    existing = {p.get("name"): p for p in holder}
    for key, value in props.items():
        prop = existing.get(key)
        if prop is None:
            prop = etree.SubElement(holder, f"{{{SPIFF}}}property")
        prop.set("name", key)
        prop.set("value", value)


def _set_operator(node: Any, handler: str) -> None:
    extensions = _spiff_extensions(node)
    if extensions.find(f"{{{SPIFF}}}serviceTaskOperator") is None:
        operator = etree.SubElement(extensions, f"{{{SPIFF}}}serviceTaskOperator")
        operator.set("id", handler)
        operator.set("resultVariable", f"{node.get('id')}_result")
        etree.SubElement(operator, f"{{{SPIFF}}}parameters")  # required by SpiffWorkflow's schema
