"""Files from other modelers, per the BPMN 2.0 spec: what CareFlow maps, what it ignores, what it refuses.

:func:`prepare_bpmn` turns a parsed BPMN document into the copy CareFlow executes, in place, and reports:

- **mapped**: Camunda 7 / Camunda 8 (Zeebe) extensions with a CareFlow equivalent (``camunda:assignee``,
  ``camunda:candidateGroups``, ``camunda:dueDate``, simple input/output mappings, external-task topics and job
  types as service handlers, ``${...}`` / ``= ...`` expressions translated by :mod:`engine.bpmn.expressions`,
  ISO-8601 timer literals) rewritten into CareFlow's ``spiffworkflow:`` dialect and Python expressions;
- **ignored**: other vendors' attributes and extension elements (Signavio, ARIS, ADONIS, Trisotech, Bizagi,
  W4, modeler metadata) and Camunda settings of its own job executor or history: removed from the executed copy,
  listed with element and line. The spec lets an engine ignore extensions unless ``mustUnderstand="true"``;
- **refused**: ``mustUnderstand`` extensions and what carries execution semantics CareFlow cannot honour
  (listeners, Java delegates, connectors, mappings or expressions outside the translated subset), each with
  element, line and the offending text.

The stored file is never rewritten by this module: the loader derives the executed copy each time it loads a
version, so ignored metadata stays in the file and the model goes back to its modeler intact. CareFlow's own
``spiffworkflow:`` properties win over a mapped Camunda value (an edit in CareFlow's modeler is not overridden).
:func:`prepare_dmn` does the same for DMN decision tables written in FEEL (Camunda Modeler's default).
:func:`choose_process` picks the pool to run in a collaboration. docs/interchange.md has the tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.bpmn.compat import BPMN, CAMUNDA, CAMUNDA_7_LIKE, CAREFLOW_I18N, HARMLESS_NAMESPACES, SPIFF, ZEEBE, Finding
from engine.bpmn.expressions import UntranslatableError, dialect, feel_literal, feel_unary_test, translate
from engine.bpmn.timers import iso_literal

# Camunda / Zeebe attributes about their own job executor, history, versioning or tasklist: no effect in CareFlow.
IGNORED_VENDOR_ATTRIBUTES = {
    "asyncBefore", "asyncAfter", "async", "exclusive", "jobPriority", "historyTimeToLive", "versionTag",
    "isStartableInTasklist", "taskPriority", "failedJobRetryTimeCycle", "initiator", "modelerTemplate",
    "modelerTemplateVersion", "modelerTemplateIcon", "followUpDate", "candidateStarterGroups",
    "candidateStarterUsers", "calledElementBinding", "calledElementVersion", "calledElementVersionTag",
    "calledElementTenantId", "caseTenantId", "decisionRefBinding", "decisionRefVersion", "decisionRefTenantId",
    "mapDecisionResult", "formRefBinding", "formRefVersion", "errorMessage", "diagramRelationId",
}
IGNORED_VENDOR_ELEMENTS = {"failedJobRetryTimeCycle", "potentialStarter", "userTask", "versionTag"}
# Camunda user-task attribute → CareFlow property of the same meaning.
USER_TASK_ATTRIBUTES = {"formKey": "formKey", "candidateGroups": "candidateGroups", "candidateUsers": "candidateUsers",
                        "priority": "priority", "formRef": "formKey"}
# CareFlow properties a camunda:properties / zeebe:properties entry may set (others are metadata: ignored).
CAREFLOW_PROPERTIES = {"formKey", "candidateGroups", "candidateUsers", "priority", "dueIn", "dueInWorkdays",
                       "assignment", "requiredSkills", "excludeUsers", "approves", "context"}
DELEGATES = {"class": "a Java delegate class", "expression": "a JUEL delegate expression",
             "delegateExpression": "a Java delegate expression", "resultVariable": "a delegate's result variable",
             "errorCodeVariable": "an error-code variable", "errorMessageVariable": "an error-message variable",
             "resource": "an external script resource", "variableMappingClass": "a Java variable mapping",
             "variableMappingDelegateExpression": "a Java variable mapping",
             "formHandlerClass": "a Java form handler", "collection": "a Camunda multi-instance collection",
             "elementVariable": "a Camunda multi-instance element variable"}
REFUSED_ELEMENTS = {
    "executionListener": "execution listeners run Java/JUEL/script code CareFlow cannot run; model the step "
                         "as a script or service task",
    "taskListener": "task listeners run Java/JUEL/script code CareFlow cannot run; use a script task or the "
                    "task's preScript/postScript",
    "executionListeners": "execution listeners run job workers CareFlow does not have; model the step as a "
                          "service task",
    "taskListeners": "task listeners run job workers CareFlow does not have",
    "connector": "Camunda Connect connectors are not available; call a CareFlow service handler",
    "field": "field injection into a Java delegate cannot run; use a CareFlow service handler's parameters",
    "formData": "Camunda generated forms are not rendered; give the task a CareFlow form (formKey)",
    "errorEventDefinition": "Camunda error mappings on external tasks are not supported",
    "loopCharacteristics": "Zeebe multi-instance settings are not translated; use BPMN multi-instance with "
                           "CareFlow's data references",
    "subscription": "Zeebe message correlation keys are not translated; correlate with CareFlow's "
                    "correlation properties",
    "calledDecision": "Zeebe decision calls are not translated; use a business rule task with a DMN decision id",
    "script": "Zeebe FEEL script tasks are not translated; write a Python script task",
}
FEEL_LANGUAGES = ("feel", "http://www.omg.org/spec/feel/20140401", "https://www.omg.org/spec/dmn/20191111/feel/")
JUEL_LANGUAGES = ("juel", "http://camunda.org/schema/1.0/juel", "${}")
PYTHON_LANGUAGES = ("python", "py", "text/x-python")
_DUE = re.compile(r"^\$\{\s*dateTime\(\)\s*\.\s*plus(Minutes|Hours|Days|Weeks|Months)\(\s*(\d+)\s*\)"
                  r"(\s*\.\s*toDate\(\))?\s*\}$")
_DUE_UNITS = {"Minutes": "PT{}M", "Hours": "PT{}H", "Days": "P{}D", "Weeks": "P{}W", "Months": "P{}M"}
_VARIABLE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TIMERS = {"timeDate": "date", "timeDuration": "duration", "timeCycle": "cycle"}
_EXPRESSIONS = ("conditionExpression", "condition", "completionCondition", "loopCardinality")


@dataclass
class Report:
    """What :func:`prepare_bpmn` / :func:`prepare_dmn` did to the executed copy."""

    mapped: list[str] = field(default_factory=list)
    ignored: list[Finding] = field(default_factory=list)
    refused: list[Finding] = field(default_factory=list)


def _ns(tag: Any) -> str:
    return (etree.QName(tag).namespace or "") if isinstance(tag, str) else ""


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _owner(node: Any) -> Any:
    """The nearest BPMN element with an id that a designer sees (an event, not its event definition)."""
    while node is not None and not (_ns(node.tag) == BPMN and node.get("id")
                                    and not _local(node.tag).endswith("EventDefinition")):
        node = node.getparent()
    return node


def _owner_id(node: Any) -> str | None:
    owner = _owner(node)
    return str(owner.get("id")) if owner is not None else None


def _prefixed(node: Any, name: str) -> str:
    namespace, local = _ns(name), _local(name)
    prefix = {CAMUNDA: "camunda", ZEEBE: "zeebe"}.get(namespace)
    if prefix is None:
        prefix = next((p for p, uri in (node.nsmap or {}).items() if uri == namespace and p), None)
    return f"{prefix}:{local}" if prefix else f"{{{namespace}}}{local}"


class _Work:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.report = Report()
        self.must_understand = _must_understand(root, self.report)
        self.props: dict[Any, dict[str, str]] = {}
        self.scripts: dict[Any, dict[str, list[str]]] = {}

    def ignore(self, node: Any, what: str, why: str = "not used by CareFlow") -> None:
        self.report.ignored.append(Finding(node.sourceline, _owner_id(node), f"{what} ignored ({why})"))

    def refuse(self, node: Any, what: str, why: str) -> None:
        where = _owner_id(node) or str(self.root.get("id") or "definitions")  # never a refusal without an element
        self.report.refused.append(Finding(node.sourceline, where, f"{what}: {why}"))

    def prop(self, node: Any, key: str, value: str) -> None:
        self.props.setdefault(node, {})[key] = value

    def script(self, node: Any, hook: str, line: str) -> None:
        self.scripts.setdefault(node, {}).setdefault(hook, []).append(line)


def _must_understand(root: Any, report: Report) -> set[str]:
    """Namespaces declared ``<bpmn:extension mustUnderstand="true" definition="prefix:…"/>``."""
    found: set[str] = set()
    for extension in root.iter(f"{{{BPMN}}}extension"):
        if (extension.get("mustUnderstand") or "").strip().lower() != "true":
            continue
        definition = extension.get("definition") or ""
        prefix = definition.split(":", 1)[0] if ":" in definition else None
        namespace = (extension.nsmap or {}).get(prefix)
        if namespace in (BPMN, SPIFF, CAREFLOW_I18N) or namespace in HARMLESS_NAMESPACES:
            continue
        found.add(namespace or definition)
        report.refused.append(Finding(extension.sourceline, str(root.get("id") or "definitions"),
                                      f"extension {definition!r} is declared mustUnderstand=\"true\" and CareFlow "
                                      "does not understand it"))
    return found


def prepare_bpmn(root: Any) -> Report:
    """Rewrite a parsed BPMN document into the copy CareFlow executes (in place); see the module docstring."""
    work = _Work(root)
    if _ns(root.tag) != BPMN or _local(root.tag) != "definitions":
        work.refuse(root, f"<{_local(root.tag)}>", "not a BPMN 2.0 document (expected bpmn:definitions)")
        return work.report
    _read_as_camunda_7(work, root)
    for node in list(root.iter()):
        if not isinstance(node.tag, str) or _detached(node, root):
            continue
        namespace = _ns(node.tag)
        if namespace == BPMN:
            _bpmn_element(work, node)
        elif namespace not in (SPIFF, CAREFLOW_I18N) and namespace not in HARMLESS_NAMESPACES:
            _vendor_element(work, node)
    for node, props in work.props.items():
        _set_properties(node, props)
        work.report.mapped.extend(f"{node.get('id')}: {key} = {value}" for key, value in sorted(props.items()))
    for node, hooks in work.scripts.items():
        for hook, lines in hooks.items():
            _add_script(node, hook, lines)
            work.report.mapped.append(f"{node.get('id')}: {hook} = {'; '.join(lines)}")
    etree.cleanup_namespaces(root, top_nsmap={"spiffworkflow": SPIFF}, keep_ns_prefixes=_value_prefixes(root))
    return work.report


def _read_as_camunda_7(work: _Work, root: Any) -> None:
    """Activiti's and Flowable's extensions renamed into Camunda 7's namespace (same names, same meaning), so they
    are mapped, ignored or refused as Camunda's are instead of all being ignored as unknown metadata."""
    renamed: set[str] = set()
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if _ns(node.tag) in CAMUNDA_7_LIKE:
            renamed.add(_ns(node.tag))
            node.tag = f"{{{CAMUNDA}}}{_local(node.tag)}"
        for name in [n for n in node.attrib if _ns(n) in CAMUNDA_7_LIKE]:
            renamed.add(_ns(name))
            node.attrib[f"{{{CAMUNDA}}}{_local(name)}"] = node.attrib.pop(name)
    work.report.mapped.extend(f"extensions of {namespace} read as Camunda 7's (same names and meaning)"
                              for namespace in sorted(renamed))


def _value_prefixes(root: Any) -> list[str]:
    """Prefixes used inside attribute values (QNames such as ``structureRef="feel:string"``, ``typeRef="xsd:int"``):
    lxml sees no use of them, but the schema resolves them, so their declarations must stay."""
    declared = {prefix for node in root.iter() if isinstance(node.tag, str) for prefix in node.nsmap if prefix}
    used = {value.split(":", 1)[0] for node in root.iter() if isinstance(node.tag, str)
            for value in node.attrib.values() if ":" in value and "//" not in value}
    return sorted(declared & used)


def _detached(node: Any, root: Any) -> bool:
    while node is not None and node is not root:
        node = node.getparent()
    return node is None


def _bpmn_element(work: _Work, node: Any) -> None:
    local = _local(node.tag)
    for name in list(node.attrib):
        namespace = _ns(name)
        if name not in node.attrib or not namespace or namespace in (SPIFF, CAREFLOW_I18N) or namespace in HARMLESS_NAMESPACES:
            continue
        what = f"attribute {_prefixed(node, name)}"
        if namespace in work.must_understand:
            work.refuse(node, what, "its extension is declared mustUnderstand=\"true\"")
        elif namespace in (CAMUNDA, ZEEBE):
            _vendor_attribute(work, node, local, name)
        else:
            work.ignore(node, what)
            del node.attrib[name]
    if local in _TIMERS and node.text and node.text.strip():
        _timer(work, node, _TIMERS[local])
    elif local in _EXPRESSIONS and node.text and node.text.strip():
        _expression(work, node)


def _vendor_attribute(work: _Work, node: Any, local: str, name: str) -> None:
    attr, value = _local(name), node.get(name) or ""
    what = f"{_prefixed(node, name)}=\"{value}\""
    if attr in IGNORED_VENDOR_ATTRIBUTES:
        work.ignore(node, what, "a setting of Camunda's job executor, history or tasklist")
        del node.attrib[name]
    elif local == "userTask" and attr in USER_TASK_ATTRIBUTES:
        if dialect(value) is not None:
            work.refuse(node, what, "an expression here is not translated; give a literal value")
            return
        work.prop(node, USER_TASK_ATTRIBUTES[attr], value)
        del node.attrib[name]
    elif local == "userTask" and attr == "assignee":
        if dialect(value) is not None or not value.strip():
            work.refuse(node, what, "an assignee expression is not translated; name the user, or use "
                                    "candidateUsers/candidateGroups")
            return
        work.prop(node, "candidateUsers", value.strip())
        work.prop(node, "assignment", "round_robin")  # assigned on creation to the only candidate
        del node.attrib[name]
    elif local == "userTask" and attr == "dueDate":
        due = _DUE.match(value.strip())
        if due is None:
            work.refuse(node, what, "only ${dateTime().plusDays(n).toDate()} (Minutes/Hours/Days/Weeks/Months) "
                                    "translates, to CareFlow's dueIn")
            return
        work.prop(node, "dueIn", _DUE_UNITS[due.group(1)].format(due.group(2)))
        del node.attrib[name]
    elif local in ("serviceTask", "sendTask") and attr == "topic" and node.get(f"{{{CAMUNDA}}}type") in (
            "external", None):
        _set_operator(node, value)
        work.report.mapped.append(f"{node.get('id')}: external task topic {value} → service handler {value}")
        del node.attrib[name]
        node.attrib.pop(f"{{{CAMUNDA}}}type", None)
    elif attr == "type" and local in ("serviceTask", "sendTask", "businessRuleTask") and value == "external":
        if node.get(f"{{{CAMUNDA}}}topic") is None:
            work.refuse(node, what, "an external task needs camunda:topic (the CareFlow service handler)")
    elif attr == "decisionRef" and local == "businessRuleTask":
        _set_decision(node, value)
        work.report.mapped.append(f"{node.get('id')}: decision {value}")
        del node.attrib[name]
    elif attr in ("formKey", "formRef") and local != "userTask":
        work.ignore(node, what, "CareFlow shows forms on user tasks only; instances start with variables")
        del node.attrib[name]
    elif attr == "resultVariable" and local == "businessRuleTask":
        work.refuse(node, what, "CareFlow puts a decision's outputs straight into the task data; drop "
                                "resultVariable and read the output names")
    elif attr in DELEGATES:
        work.refuse(node, what, f"{DELEGATES[attr]} cannot run in CareFlow; call a CareFlow service handler "
                                "(camunda:type=\"external\" camunda:topic=\"handler\")")
    else:
        work.refuse(node, what, "not understood by CareFlow")


def _vendor_element(work: _Work, node: Any) -> None:
    parent = node.getparent()
    in_extensions = parent is not None and _ns(parent.tag) == BPMN and _local(parent.tag) == "extensionElements"
    nested = parent is not None and _ns(parent.tag) not in (BPMN,) and not in_extensions
    if nested:
        return  # handled (kept or removed) with its vendor parent
    namespace, local = _ns(node.tag), _local(node.tag)
    what = f"extension <{_prefixed(node, node.tag)}>"
    if namespace in work.must_understand or (node.get("mustUnderstand") or "").lower() == "true":
        work.refuse(node, what, "declared mustUnderstand=\"true\" and not understood by CareFlow")
        return
    if namespace not in (CAMUNDA, ZEEBE):
        work.ignore(node, what)
        parent.remove(node)
        return
    owner = _owner(node)
    if owner is None or _local(owner.tag) == "definitions":
        work.refuse(node, what, "not on an element CareFlow can map it to")
        return
    if _camunda_extension(work, node, owner, local, what):
        parent.remove(node)


def _camunda_extension(work: _Work, node: Any, owner: Any, local: str, what: str) -> bool:
    """Map one camunda:/zeebe: extension element; True when it is consumed (mapped or ignored)."""
    owner_kind = _local(owner.tag) if owner is not None else ""
    if local in IGNORED_VENDOR_ELEMENTS:
        work.ignore(node, what, "a setting of Camunda's job executor or tasklist")
    elif local == "formDefinition" and (node.get("formKey") or node.get("formId")):
        work.prop(owner, "formKey", str(node.get("formKey") or node.get("formId")))
    elif local == "assignmentDefinition":
        for attr in ("candidateGroups", "candidateUsers", "assignee"):
            value = (node.get(attr) or "").strip()
            if not value:
                continue
            if value.startswith("="):
                try:
                    value = _feel_list(value)
                except UntranslatableError as exc:
                    work.refuse(node, f"{what} {attr}=\"{node.get(attr)}\"", str(exc))
                    return False
            work.prop(owner, "candidateUsers" if attr == "assignee" else attr, value)
            if attr == "assignee":
                work.prop(owner, "assignment", "round_robin")
    elif local == "priorityDefinition" and (node.get("priority") or "").strip().isdigit():
        work.prop(owner, "priority", str(node.get("priority")).strip())
    elif local == "taskDefinition" and node.get("type"):
        _set_operator(owner, str(node.get("type")))
        work.report.mapped.append(f"{owner.get('id')}: job type {node.get('type')} → service handler")
    elif local in ("taskHeaders", "properties"):
        for item in node:
            key, value = item.get("key") or item.get("name"), item.get("value")
            if not key or value is None:
                continue
            if local == "taskHeaders":
                if not _set_parameter(owner, key, repr(value)):
                    work.refuse(item, f"{what} {key}", "headers need the job type (zeebe:taskDefinition) first")
                    return False
                work.report.mapped.append(f"{owner.get('id')}: header {key} → service parameter")
            elif key in CAREFLOW_PROPERTIES:
                work.prop(owner, key, value)
            else:
                work.ignore(item, f"property {key}")
    elif local == "calledElement" and node.get("processId") and owner_kind == "callActivity":
        if str(node.get("processId")).startswith("="):
            work.refuse(node, what, "a FEEL process id is not translated; name the process")
            return False
        owner.set("calledElement", str(node.get("processId")))
        work.report.mapped.append(f"{owner.get('id')}: calls {node.get('processId')}")
    elif local in ("in", "out") and owner_kind == "callActivity":
        if node.get("variables") != "all":
            work.refuse(node, what, "only variables=\"all\" matches CareFlow (a call activity sees all data)")
            return False
        work.ignore(node, what, "CareFlow passes all data to and from a called process")
    elif local in ("inputOutput", "ioMapping"):
        return _io_mapping(work, node, owner, what)
    elif local in REFUSED_ELEMENTS:
        work.refuse(node, what, REFUSED_ELEMENTS[local])
        return False
    else:
        work.refuse(node, what, "not understood by CareFlow")
        return False
    return True


def _feel_list(value: str) -> str:
    body = value.strip()[1:].strip()
    if body.startswith("[") and body.endswith("]"):
        items = [i.strip() for i in body[1:-1].split(",") if i.strip()]
        if all(re.fullmatch(r"\"[^\"]*\"", i) for i in items):
            return ",".join(i.strip('"') for i in items)
    if re.fullmatch(r"\"[^\"]*\"", body):
        return body.strip('"')
    raise UntranslatableError("only literal FEEL strings and lists of strings translate", value)


def _io_mapping(work: _Work, node: Any, owner: Any, what: str) -> bool:
    """Plain variable-to-variable and literal mappings → preScript/postScript assignments; else refused."""
    lines: list[tuple[str, str]] = []
    for item in node:
        if not isinstance(item.tag, str):
            continue
        kind = _local(item.tag)
        hook = "preScript" if kind in ("inputParameter", "input") else "postScript"
        if kind in ("inputParameter", "outputParameter"):
            target, source, literal = item.get("name"), (item.text or "").strip(), True
            if len(item):
                work.refuse(item, f"{what} {kind} {target}", "lists, maps and scripts in mappings are not translated")
                return False
        else:
            target, source, literal = item.get("target"), (item.get("source") or "").strip(), False
        if not target or not _VARIABLE.match(target):
            work.refuse(item, f"{what} {kind} {target}", "only a plain variable name can be a mapping target")
            return False
        try:
            if dialect(source) is not None:
                expression = translate(source)
            elif literal:
                expression = repr(source) if not re.fullmatch(r"-?\d+(\.\d+)?", source) else source
            else:
                raise UntranslatableError("a Zeebe mapping source is a FEEL expression starting with =", source)
        except UntranslatableError as exc:
            work.refuse(item, f"{what} {kind} {target}", str(exc))
            return False
        lines.append((hook, f"{target} = {expression}"))
    for hook, line in lines:
        work.script(owner, hook, line)
    return True


def _timer(work: _Work, node: Any, kind: str) -> None:
    text = (node.text or "").strip()
    try:
        if dialect(text) is not None:
            node.text = translate(text)
            work.report.mapped.append(f"{_owner_id(node)}: timer {text} → {node.text}")
            return
        literal = iso_literal(kind, text)
    except (UntranslatableError, ValueError) as exc:
        work.refuse(node, f"timer {_local(node.tag)} {text!r}", str(exc))
        return
    if literal is not None:
        node.text = literal


def _expression(work: _Work, node: Any) -> None:
    text = (node.text or "").strip()
    language = (node.get("language") or "").strip().lower()
    if language and language not in FEEL_LANGUAGES + JUEL_LANGUAGES + PYTHON_LANGUAGES:
        work.refuse(node, f"{_local(node.tag)} in {language}", "only Python, and the JUEL/FEEL subset CareFlow "
                                                               "translates, are supported")
        return
    if language in FEEL_LANGUAGES and dialect(text) is None:
        text = "= " + text
    try:
        translated = translate(text)
    except UntranslatableError as exc:
        work.refuse(node, f"{_local(node.tag)} {text!r}", str(exc))
        return
    if translated != text:
        node.text = translated
        node.attrib.pop("language", None)
        work.report.mapped.append(f"{_owner_id(node)}: {text} → {translated}")


# --- writing CareFlow's dialect -------------------------------------------------------------------------------------

def _extensions(node: Any) -> Any:
    extensions = node.find(f"{{{BPMN}}}extensionElements")
    if extensions is None:
        extensions = etree.Element(f"{{{BPMN}}}extensionElements")
        after = [i for i, child in enumerate(node) if _local(child.tag) == "documentation"]
        node.insert(after[-1] + 1 if after else 0, extensions)
    return extensions


def _set_properties(node: Any, props: dict[str, str]) -> None:
    holder = _extensions(node).find(f"{{{SPIFF}}}properties")
    if holder is None:
        holder = etree.SubElement(_extensions(node), f"{{{SPIFF}}}properties")
    existing = {p.get("name") for p in holder}
    for key, value in props.items():
        if key in existing:
            continue  # CareFlow's own property wins over the mapped one
        prop = etree.SubElement(holder, f"{{{SPIFF}}}property")
        prop.set("name", key)
        prop.set("value", value)


def _add_script(node: Any, hook: str, lines: list[str]) -> None:
    holder = _extensions(node).find(f"{{{SPIFF}}}{hook}")
    if holder is None:
        holder = etree.SubElement(_extensions(node), f"{{{SPIFF}}}{hook}")
        holder.text = ""
    existing = holder.text or ""
    mapped = "\n".join(lines)
    holder.text = f"{mapped}\n{existing}" if hook == "preScript" else f"{existing}\n{mapped}".lstrip("\n")


def _set_operator(node: Any, handler: str) -> Any:
    extensions = _extensions(node)
    operator = extensions.find(f"{{{SPIFF}}}serviceTaskOperator")
    if operator is None:
        operator = etree.SubElement(extensions, f"{{{SPIFF}}}serviceTaskOperator")
        operator.set("id", handler)
        operator.set("resultVariable", f"{node.get('id')}_result")
        etree.SubElement(operator, f"{{{SPIFF}}}parameters")  # required by SpiffWorkflow's schema
    return operator


def _set_parameter(node: Any, name: str, value: str) -> bool:
    operator = _extensions(node).find(f"{{{SPIFF}}}serviceTaskOperator")
    if operator is None:
        return False
    params = operator.find(f"{{{SPIFF}}}parameters")
    param = etree.SubElement(params, f"{{{SPIFF}}}parameter")
    param.set("id", name)
    param.set("type", "str")
    param.set("value", value)
    return True


def _set_decision(node: Any, decision: str) -> None:
    extensions = _extensions(node)
    if extensions.find(f"{{{SPIFF}}}calledDecisionId") is None:
        etree.SubElement(extensions, f"{{{SPIFF}}}calledDecisionId").text = decision


# --- DMN --------------------------------------------------------------------------------------------------------------

def prepare_dmn(root: Any) -> Report:
    """FEEL decision tables (Camunda Modeler) → the Python expressions SpiffWorkflow's DMN engine evaluates."""
    report = Report()
    feel = _dmn_is_feel(root)
    for table in root.iter():
        if not isinstance(table.tag, str) or _local(table.tag) != "decisionTable":
            continue
        table_language = (table.get("expressionLanguage") or "").lower()
        table_feel = feel if not table_language else "feel" in table_language
        if not table_feel:
            continue
        for node in table.iter():
            if not isinstance(node.tag, str) or _local(node.tag) != "text" or node.getparent() is None:
                continue
            kind, original = _local(node.getparent().tag), node.text or ""
            try:
                if kind == "inputEntry":
                    translated = feel_unary_test(original)
                elif kind in ("outputEntry", "inputExpression"):
                    translated = feel_literal(original)
                else:
                    continue
            except UntranslatableError as exc:
                report.refused.append(Finding(node.sourceline, node.getparent().get("id"),
                                              f"{kind} {original.strip()!r}: {exc}"))
                continue
            translated = translated if translated is not None else "-"
            if translated.strip() != original.strip():
                node.text = translated
                report.mapped.append(f"{node.getparent().get('id')}: {original.strip()} → {translated}")
    return report


def _dmn_is_feel(root: Any) -> bool:
    """FEEL when the file says so, or comes from Camunda (FEEL is its default); CareFlow's own tables are Python."""
    language = (root.get("expressionLanguage") or "").lower()
    if language:
        return "feel" in language
    namespaces = set((root.nsmap or {}).values())
    return "camunda" in (root.get("exporter") or "").lower() or bool(
        namespaces & {CAMUNDA, ZEEBE, "http://camunda.org/schema/modeler/1.0"})


# --- choosing the pool ------------------------------------------------------------------------------------------------

_FLOW_NODES = {"startEvent", "endEvent", "task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask",
               "receiveTask", "businessRuleTask", "callActivity", "subProcess", "exclusiveGateway",
               "parallelGateway", "inclusiveGateway", "eventBasedGateway", "intermediateCatchEvent",
               "intermediateThrowEvent", "complexGateway", "transaction", "adHocSubProcess"}


@dataclass(frozen=True)
class Choice:
    process_id: str | None  # None: nothing to run (no process with flow nodes)
    candidates: tuple[str, ...]  # the pools with flow nodes (or the processes, without a collaboration), in order
    was_executable: bool
    ambiguous: bool  # several candidates and nothing said which one
    dropped: tuple[str, ...] = ()  # processes in no pool and called by no call activity: never candidates


def _participants(root: Any) -> list[str]:
    """The processes the collaborations' participants reference (their pools), in document order."""
    refs = [str(p.get("processRef")).split(":")[-1] for p in root.iter(f"{{{BPMN}}}participant")
            if p.get("processRef")]
    return list(dict.fromkeys(refs))


def _calls(root: Any) -> dict[str, set[str]]:
    """Process id → the processes its call activities call (``calledElement``, a QName's local part)."""
    return {str(p.get("id")): {str(c.get("calledElement")).split(":")[-1]
                               for c in p.iter(f"{{{BPMN}}}callActivity") if c.get("calledElement")}
            for p in root.iter(f"{{{BPMN}}}process") if p.get("id")}


def called_by(root: Any, process_ids: set[str] | list[str]) -> set[str]:
    """The processes reached from ``process_ids`` through call activities, transitively (themselves included)."""
    calls = _calls(root)
    reached: set[str] = set()
    todo = list(process_ids)
    while todo:
        one = todo.pop()
        if one not in reached:
            reached.add(one)
            todo.extend(calls.get(one, ()))
    return reached


def choose_process(root: Any, wanted: str | None = None) -> Choice:
    """The pool to run: ``wanted``, else the one ``isExecutable="true"``, else the only one with flow nodes.

    With a collaboration the candidates are the processes its participants reference (the pools); a process no
    participant references is called by a pool's call activity, or is referenced by nobody (MIWG B.1.0, C.9.0:
    the exporter's diagram process): either way it is not a candidate, and one referenced by nobody is listed in
    ``dropped`` (unless the pools are all empty: then it is a candidate). Without a collaboration every process with
    flow nodes that no other process calls is one.
    """
    processes = [p for p in root.iter(f"{{{BPMN}}}process") if p.get("id")]
    ids = [str(p.get("id")) for p in processes]
    pools = _participants(root)
    calls = _calls(root)
    called = {c for caller, targets in calls.items() for c in targets if c != caller}
    if pools:
        in_pools = [p for p in processes if p.get("id") in pools]
        dropped = tuple(i for i in ids if i not in pools and i not in called)
    else:
        roots = [p for p in processes if p.get("id") not in called]
        in_pools, dropped = (roots or processes), ()
    candidates = [p for p in in_pools if any(_local(c.tag) in _FLOW_NODES for c in p)]
    if pools and not candidates:  # only empty pools: a process in none of them is all there is to run
        candidates = [p for p in processes if p.get("id") in dropped and any(_local(c.tag) in _FLOW_NODES for c in p)]
        dropped = tuple(d for d in dropped if d not in {str(p.get("id")) for p in candidates})
    names = tuple(str(p.get("id")) for p in candidates)
    if wanted is not None:
        chosen = next((p for p in processes if p.get("id") == wanted), None)
        if chosen is None:
            return Choice(None, names, False, True, dropped)
        return Choice(wanted, names, chosen.get("isExecutable") == "true", False,
                      tuple(d for d in dropped if d != wanted))
    executable = [p for p in candidates if p.get("isExecutable") == "true"]
    if len(executable) == 1:
        return Choice(str(executable[0].get("id")), names, True, False, dropped)
    pool = executable or candidates
    if not pool:
        return Choice(None, names, False, False, dropped)
    return Choice(str(pool[0].get("id")), names, pool[0].get("isExecutable") == "true", len(pool) > 1, dropped)


def mark_executable(root: Any, process_id: str) -> None:
    """``isExecutable="true"`` on the chosen process and ``false`` on every process it does not call (the other
    pools, and processes referenced by nobody), so exactly one runs and the loader leaves the others out."""
    keep = called_by(root, [process_id])
    for process in root.iter(f"{{{BPMN}}}process"):
        if process.get("id") == process_id:
            process.set("isExecutable", "true")
        elif process.get("id") not in keep:
            process.set("isExecutable", "false")


def idle_processes(root: Any, keep: str | None = None, called_elsewhere: set[str] | frozenset[str] = frozenset()) \
        -> list[Any]:
    """The processes CareFlow does not run: marked ``isExecutable="false"`` and called by no call activity of a
    process that runs (in this file, or ``called_elsewhere`` in another file of the bundle), never ``keep``.
    Per BPMN a non-executable process is a model for people; the loader leaves these out of the executed copy, so
    the problems of a pool that was not chosen do not stop the chosen one."""
    processes = [p for p in root.iter(f"{{{BPMN}}}process") if p.get("id")]
    running = [str(p.get("id")) for p in processes if p.get("isExecutable", "true") != "false" or p.get("id") == keep]
    used = called_by(root, running) | set(called_elsewhere)
    return [p for p in processes if p.get("id") not in used]


def owners(root: Any) -> tuple[dict[str, str], dict[int, str]]:
    """Which process each element id, and each source line, belongs to (for sorting problems by pool)."""
    by_id: dict[str, str] = {}
    by_line: dict[int, str] = {}
    for process in root.iter(f"{{{BPMN}}}process"):
        pid = str(process.get("id") or "")
        for node in process.iter():
            if not isinstance(node.tag, str):
                continue
            if node.get("id"):
                by_id.setdefault(str(node.get("id")), pid)
            if node.sourceline:
                by_line.setdefault(int(node.sourceline), pid)
    return by_id, by_line
