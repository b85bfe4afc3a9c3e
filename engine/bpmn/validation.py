"""CareFlow's own checks of a process at deploy (and at validate), beyond what SpiffWorkflow parses.

Every value of a CareFlow extension is checked where it is written: ``dueIn`` is an ISO 8601 duration,
``dueInWorkdays`` a whole number, ``priority`` 0–100 (out of range is an error, never clamped), candidate
groups and users exist and a group has an active member (warnings: the directory changes without a deploy),
every user task names someone who can claim it, a form's fields read downstream exist (warning), message
names a catch event waits for are sent by someone, and every flow node is connected where BPMN needs it.
CareFlow's own vocabulary is strict: an unknown ``careflow:`` attribute or ``spiffworkflow:property`` name
is an error with the nearest known name ("did you mean excludeUsers?").

These checks run when a bundle is deployed or validated, never when an already deployed version is loaded
again (``engine.bpmn.loader.parse_bundle`` with ``handlers=None``): a stored version always loads.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from engine.bpmn.timers import parse_duration

ERROR, WARNING = "error", "warning"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAREFLOW = "http://careflow.example/schema/bpmn-i18n"

# spiffworkflow:property names CareFlow reads (engine.bpmn.extensions, engine.casefile.registry).
KNOWN_PROPERTIES = frozenset({
    "formKey", "candidateGroups", "candidateUsers", "priority", "dueIn", "dueInWorkdays", "assignment",
    "requiredSkills", "excludeUsers", "approves", "context",
})
# careflow: attributes (docs/bpmn-conventions.md).
KNOWN_ATTRIBUTES = frozenset({"nameEn"})
PRIORITY_RANGE = (0, 100)

# Each problem's text by code, with %(name)s parameters: the English message; the web layer shows the same
# text in the page's language (web/problem_text.py keeps the catalogue entries of exactly these ids).
TEXTS = {
    "unknown_attribute": "unknown CareFlow attribute careflow:%(name)s",
    "unknown_element": "unknown CareFlow element careflow:%(name)s",
    "unknown_property": "unknown CareFlow property '%(name)s'",
    "no_incoming": "%(kind)s '%(id)s' has no incoming sequence flow: it can never be reached",
    "no_outgoing": "%(kind)s '%(id)s' has no outgoing sequence flow; end the path with an end event",
    "message_unsent": "nobody sends message '%(name)s': it is not thrown in this process, not sent by CareFlow "
                      "and no intake client is granted it",
    "due_in": "dueIn '%(value)s' is not an ISO 8601 duration (e.g. P3D, PT4H): %(why)s",
    "priority_number": "priority '%(value)s' must be a whole number from 0 to 100",
    "priority_range": "priority %(value)s is out of range 0–100",
    "nobody_named": "nobody can claim this task: candidateGroups and candidateUsers are empty",
    "group_unknown": "candidate group '%(name)s' does not exist",
    "lane_unknown": "lane '%(name)s' (its candidate group) does not exist",
    "group_empty": "candidate group '%(name)s' has no active member",
    "lane_empty": "lane '%(name)s' (its candidate group) has no active member",
    "user_unknown": "candidate user '%(name)s' does not exist or is not active",
    "nobody_today": "nobody can claim this task today: none of its candidates is an active user",
    "field_typo": "reads '%(name)s', which nothing in this process sets (form '%(form)s' has a field like it)",
    # appended when a near name is known, or the known names when there are few
    "did_you_mean": "; did you mean %(suggestion)s?",
    "known": "; known: %(known)s",
}


@dataclass(frozen=True)
class Finding:
    """One problem: where (line, element id), how bad (error blocks a deploy, warning does not) and what
    (``code`` and ``params`` name the text in :data:`TEXTS`; ``message`` is its English)."""

    line: int | None
    element_id: str | None
    code: str
    params: tuple[tuple[str, str], ...] = ()
    severity: str = ERROR

    @property
    def message(self) -> str:
        return render(self.code, dict(self.params))


def render(code: str, params: Mapping[str, str], texts: Mapping[str, str] = TEXTS) -> str:
    """The text of a problem from ``texts`` (English by default), with its suggestion or list of known names."""
    text = texts[code] % params
    if params.get("suggestion"):
        text += texts["did_you_mean"] % params
    elif params.get("known"):
        text += texts["known"] % params
    return text


def _params(**values: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, str(v)) for k, v in values.items() if v is not None)


@dataclass(frozen=True)
class Directory:
    """Who and what exists in this installation, as far as a deploy can see it."""

    groups: Mapping[str, int] = field(default_factory=dict)  # group name → number of its active members
    users: Collection[str] = frozenset()  # active user names
    messages: Collection[str] = frozenset()  # message names CareFlow itself or an intake client sends


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _ns(tag: Any) -> str:
    return (etree.QName(tag).namespace or "") if isinstance(tag, str) else ""


def _owner(node: Any) -> Any:
    while node is not None and not (_ns(node.tag) == BPMN and node.get("id")):
        node = node.getparent()
    return node


def _suggest(name: str, known: Collection[str], *, list_all: bool = True) -> dict[str, str]:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    if close:
        return {"suggestion": close[0]}
    return {"known": ", ".join(sorted(known))} if list_all else {}


# --- the document: vocabulary, connections, messages ----------------------------------------------------------------

def check_document(root: Any, directory: Directory | None = None) -> list[Finding]:
    """Checks that need the XML itself (names as written, lines, the graph)."""
    found = list(_vocabulary(root))
    found += _connections(root)
    if directory is not None:
        found += _messages(root, directory)
    return found


def _vocabulary(root: Any) -> Iterator[Finding]:
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        for attribute in node.attrib:
            if _ns(attribute) == CAREFLOW and _local(attribute) not in KNOWN_ATTRIBUTES:
                owner = _owner(node)
                yield Finding(node.sourceline, owner.get("id") if owner is not None else None, "unknown_attribute",
                              _params(name=_local(attribute), **_suggest(_local(attribute), KNOWN_ATTRIBUTES)))
        if _ns(node.tag) == CAREFLOW:
            owner = _owner(node)
            yield Finding(node.sourceline, owner.get("id") if owner is not None else None, "unknown_element",
                          _params(name=_local(node.tag)))
        if _ns(node.tag) == SPIFF and _local(node.tag) == "property":
            name = node.get("name") or ""
            if name not in KNOWN_PROPERTIES:
                owner = _owner(node)
                yield Finding(node.sourceline, owner.get("id") if owner is not None else None, "unknown_property",
                              _params(name=name, **_suggest(name, KNOWN_PROPERTIES)))


_CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess"}
_NODES = {"task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
          "businessRuleTask", "callActivity", "subProcess", "transaction", "exclusiveGateway", "inclusiveGateway",
          "parallelGateway", "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent",
          "startEvent", "endEvent"}


def _event_kinds(node: Any) -> set[str]:
    return {_local(child.tag) for child in node if _ns(child.tag) == BPMN and _local(child.tag).endswith("EventDefinition")}


def _connections(root: Any) -> Iterator[Finding]:
    """A flow node that no sequence flow reaches never runs; one that nothing leaves ends its path by accident."""
    for container in root.iter(*(f"{{{BPMN}}}{c}" for c in _CONTAINERS)):
        if container.get("triggeredByEvent") == "true" and _local(container.tag) == "subProcess":
            event_sub = True
        else:
            event_sub = False
        children = [c for c in container if _ns(c.tag) == BPMN]
        flows = [c for c in children if _local(c.tag) == "sequenceFlow"]
        sources = {f.get("sourceRef") for f in flows}
        targets = {f.get("targetRef") for f in flows}
        for node in children:
            kind, node_id = _local(node.tag), node.get("id")
            if kind not in _NODES or not node_id:
                continue
            if node.get("isForCompensation") == "true" or node.get("triggeredByEvent") == "true":
                continue  # compensation handlers and event sub-processes are started by their event
            events = _event_kinds(node)
            needs_in = kind != "startEvent" and not (kind == "intermediateCatchEvent" and "linkEventDefinition" in events)
            needs_out = kind != "endEvent" and not (kind == "intermediateThrowEvent" and "linkEventDefinition" in events)
            if event_sub and kind == "startEvent":
                needs_in = False
            if needs_in and node_id not in targets:
                yield Finding(node.sourceline, node_id, "no_incoming", _params(kind=kind, id=node_id))
            if needs_out and node_id not in sources:
                yield Finding(node.sourceline, node_id, "no_outgoing", _params(kind=kind, id=node_id))
        for node in children:  # a boundary event leads somewhere (a compensation boundary event is associated)
            if _local(node.tag) == "boundaryEvent" and node.get("id") not in sources \
                    and "compensateEventDefinition" not in _event_kinds(node):
                yield Finding(node.sourceline, node.get("id"), "no_outgoing",
                              _params(kind="boundaryEvent", id=node.get("id")))


_CATCHERS = {"startEvent", "intermediateCatchEvent", "boundaryEvent"}
_THROWERS = {"intermediateThrowEvent", "endEvent"}


def _messages(root: Any, directory: Directory) -> Iterator[Finding]:
    """A catch event waits for a message somebody sends: this process, CareFlow itself or an intake client."""
    names = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(f"{{{BPMN}}}message")}
    thrown: set[str] = set()
    waiting: list[tuple[Any, str]] = []
    for node in root.iter(f"{{{BPMN}}}*"):
        kind = _local(node.tag)
        refs = [d.get("messageRef") for d in node if _local(d.tag) == "messageEventDefinition" and _ns(d.tag) == BPMN]
        if kind in ("sendTask", "receiveTask"):
            refs.append(node.get("messageRef"))
        for ref in refs:
            if not ref:
                continue
            name = names.get(ref, ref)
            if kind in _THROWERS or kind == "sendTask":
                thrown.add(name)
            elif kind in _CATCHERS or kind == "receiveTask":
                waiting.append((node, name))
    for node, name in waiting:
        if name not in thrown and name not in directory.messages:
            yield Finding(node.sourceline, node.get("id"), "message_unsent", _params(name=name), WARNING)


# --- a user task's values --------------------------------------------------------------------------------------------

def check_user_task(props: Mapping[str, str], lane: str | None, directory: Directory | None) -> list[Finding]:
    """Each bad value of a user task's CareFlow properties (no location: the caller knows the task's)."""
    found: list[Finding] = []
    due_in = props.get("dueIn")
    if due_in is not None:
        why = duration_problem(due_in)
        if why:
            found.append(Finding(None, None, "due_in", _params(value=due_in, why=why)))
    priority = props.get("priority")
    if priority is not None:
        try:
            number = int(priority.strip())
        except ValueError:
            found.append(Finding(None, None, "priority_number", _params(value=priority)))
        else:
            if not PRIORITY_RANGE[0] <= number <= PRIORITY_RANGE[1]:
                found.append(Finding(None, None, "priority_range", _params(value=number)))
    found += _claimable(props, lane, directory)
    return found


def duration_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 8601 duration, or None."""
    text = value.strip()
    if not text.upper().startswith("P") or not any(ch.isdigit() for ch in text):
        return "it must start with P and give an amount"
    try:
        parse_duration(text, datetime(2000, 1, 1, tzinfo=UTC))
    except Exception as exc:  # the library raises bare Exception for bad durations
        return str(exc) or type(exc).__name__
    return None


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _claimable(props: Mapping[str, str], lane: str | None, directory: Directory | None) -> list[Finding]:
    groups, users = _split(props.get("candidateGroups")), _split(props.get("candidateUsers"))
    named = [n for n in (*groups, *users) if not n.startswith("${")]
    expressions = [n for n in (*groups, *users) if n.startswith("${")]
    if "candidateGroups" in props and "candidateUsers" in props and not groups and not users and not lane:
        return [Finding(None, None, "nobody_named")]
    from_lane = not groups and bool(lane)
    if from_lane and (users or expressions):
        from_lane = False  # the lane's group is only a fallback next to named users
    elif from_lane:
        groups, named = [str(lane)], [str(lane)]
    if not named and not expressions:
        return []  # names nobody: the queue of all staff (engine.services.task_queries, "any")
    if directory is None:
        return []
    found: list[Finding] = []
    reachable = bool(expressions)
    for group in (g for g in groups if not g.startswith("${")):
        members = directory.groups.get(group)
        if members is None:
            found.append(Finding(None, None, "lane_unknown" if from_lane else "group_unknown",
                                 _params(name=group, **_suggest(group, directory.groups, list_all=False)), WARNING))
        elif members == 0:
            found.append(Finding(None, None, "lane_empty" if from_lane else "group_empty", _params(name=group), WARNING))
        else:
            reachable = True
    for user in (u for u in users if not u.startswith("${")):
        if user not in directory.users:
            found.append(Finding(None, None, "user_unknown", _params(name=user), WARNING))
        else:
            reachable = True
    if not reachable and len(named) > 1:
        found.append(Finding(None, None, "nobody_today", (), WARNING))
    return found


# --- forms and the data read downstream --------------------------------------------------------------------------------

def form_fields(form: Mapping[str, Any]) -> set[str]:
    """The keys a form submits (nested components included)."""
    keys: set[str] = set()

    def walk(components: Any) -> None:
        for component in components or []:
            if isinstance(component, Mapping):
                if component.get("key"):
                    keys.add(str(component["key"]).split(".")[0])
                walk(component.get("components"))
    walk(form.get("components"))
    return keys


def names_read(code: str, mode: str) -> set[str]:
    """Top-level names an expression or script reads before it assigns them (cheap static analysis)."""
    try:
        tree = ast.parse(code, mode=mode)
    except SyntaxError:
        return set()
    assigned = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    bound = {a.arg for n in ast.walk(tree) if isinstance(n, ast.Lambda | ast.FunctionDef) for a in n.args.args}
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loads - assigned - bound


def _expressions(task_spec: Any) -> Iterator[tuple[str, str]]:
    """(source, mode) of each condition and script a task spec runs."""
    script = getattr(task_spec, "script", None)
    if isinstance(script, str):
        yield script, "exec"
    for hook in ("preScript", "postScript"):
        code = (getattr(task_spec, "extensions", None) or {}).get(hook)
        if code:
            yield str(code), "exec"
    for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
        if condition is not None:
            yield str(getattr(condition, "args", [condition])[0]), "eval"


def _stored(code: str, mode: str) -> set[str]:
    try:
        tree = ast.parse(code, mode=mode)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def downstream_names(spec: Any, forms: Mapping[str, Any]) -> list[Finding]:
    """A finding (with its element id) for a name a condition or script reads that nothing in the process sets but that
    is one letter or two away from a form field of the process: most likely a mistyped field (a warning; the
    instance's start variables are not known at deploy, so other unknown names are left alone)."""
    fields: dict[str, str] = {}
    known: set[str] = set(dir(__builtins__)) if not isinstance(__builtins__, dict) else set(__builtins__)
    for task_spec in spec.task_specs.values():
        form_key = ((getattr(task_spec, "extensions", None) or {}).get("properties") or {}).get("formKey")
        form = forms.get(form_key) if form_key else None
        if isinstance(form, Mapping):
            for key in form_fields(form):
                fields.setdefault(key, str(form_key))
        for code, mode in _expressions(task_spec):
            known |= _stored(code, mode)
        for attribute in ("result_variable", "output_item", "input_item"):
            value = getattr(task_spec, attribute, None)
            if isinstance(value, str):
                known.add(value)
        message_variable = (getattr(task_spec, "extensions", None) or {}).get("messageVariable")
        if message_variable:
            known.add(str(message_variable))
    known |= set(fields) | set(getattr(spec, "data_objects", {}) or {})
    found: list[Finding] = []
    for task_spec in spec.task_specs.values():
        element = getattr(task_spec, "bpmn_id", None)
        if not element:
            continue
        for code, mode in _expressions(task_spec):
            for name in sorted(names_read(code, mode) - known):
                close = difflib.get_close_matches(name, sorted(fields), n=1, cutoff=0.8)
                if close:
                    found.append(Finding(None, element, "field_typo", _params(name=name, form=fields[close[0]],
                                                                          suggestion=close[0]),
                                         WARNING))
    return found
