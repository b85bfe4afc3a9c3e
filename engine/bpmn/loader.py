"""Deploy-time compile step: bytes → parsed, checked specs, or a list of problems.

Every attempt uses a fresh parser (SpiffWorkflow keeps a half-built spec cached in a
parser whose ``get_spec`` failed), and nothing is returned unless the whole bundle is
clean, so a bad file can never leave a partial spec behind. Problems name the file, the
line, the BPMN element id and what is wrong. Expressions SpiffWorkflow only checks at
run time (timers, conditions, scripts, service parameters) are checked here.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.spiff.parser import VALIDATOR
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask

from engine.bpmn.compat import unsupported
from engine.bpmn.extensions import properties
from engine.bpmn.interchange import called_by, idle_processes, prepare_bpmn, prepare_dmn
from engine.bpmn.parser import CareflowParser
from engine.bpmn.scripting import check_script
from engine.bpmn.timers import check_timer_value, install_clocked_timers
from engine.bpmn.validation import Directory, Finding, check_document, check_user_task, downstream_names
from engine.errors import DefinitionProblem, InvalidDefinitionError
from engine.forms import check_form_definition

_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
KINDS = {".bpmn": "bpmn", ".xml": "bpmn", ".dmn": "dmn", ".json": "form"}
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)


@dataclass(frozen=True)
class SourceFile:
    filename: str
    content: bytes

    @property
    def kind(self) -> str | None:
        dot = self.filename.rfind(".")
        return KINDS.get(self.filename[dot:].lower()) if dot >= 0 else None


@dataclass
class ParsedBundle:
    process_key: str
    name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[DefinitionProblem] = field(default_factory=list)  # found at deploy, not blocking it


class _Problems:
    def __init__(self) -> None:
        self.items: list[DefinitionProblem] = []
        self.lines: dict[str, tuple[str, int]] = {}  # element id -> (file, line)
        self.deferred: list[DefinitionProblem] = []  # CareFlow's document checks, listed after the parser's

    def flush(self) -> None:
        """Add the deferred findings, leaving out those about an element already refused by the parser."""
        refused = {p.element_id for p in self.items if p.element_id and p.severity == "error"}
        self.items.extend(p for p in self.deferred if p.element_id not in refused)
        self.deferred = []

    def add(self, file: str, line: int | None, element_id: str | None, message: str) -> None:
        self.items.append(DefinitionProblem(file, line, element_id, message))

    def at(self, element_id: str, message: str, default_file: str = "") -> None:
        file, line = self.lines.get(element_id, (default_file, None))
        self.add(file, line, element_id, message)

    def found(self, file: str, finding: Finding) -> DefinitionProblem:
        """A finding of CareFlow's own checks, located at its element when it has no line of its own."""
        line = finding.line
        if line is None and finding.element_id:
            file, line = self.lines.get(finding.element_id, (file, None))
        return DefinitionProblem(file, line, finding.element_id, finding.message, finding.severity, finding.code,
                                 finding.params)

    @property
    def blocking(self) -> bool:
        return any(p.severity == "error" for p in self.items)

    def warnings(self) -> list[DefinitionProblem]:
        return [p for p in self.items if p.severity != "error"]

    def index(self, filename: str, root: Any) -> None:
        for node in root.iter():
            element_id = node.get("id") if isinstance(node.tag, str) else None
            if element_id and element_id not in self.lines:
                self.lines[element_id] = (filename, node.sourceline)


@runtime_checkable
class HandlerCheck(Protocol):
    """Which service handlers exist and which process may call which (engine.runtime.handlers.HandlerPolicy)."""

    def names(self) -> Collection[str]: ...

    def why_not(self, handler: str, process_key: str, params: Mapping[str, Any]) -> str | None: ...


class _Known:
    """A plain list of handler names, every one allowed everywhere (tests of the loader itself)."""

    def __init__(self, names: Collection[str]) -> None:
        self._names = names

    def names(self) -> Collection[str]:
        return self._names

    def why_not(self, handler: str, process_key: str, params: Mapping[str, Any]) -> str | None:
        return None


def parse_bundle(
    files: list[SourceFile],
    *,
    process_key: str | None = None,
    handlers: HandlerCheck | Collection[str] | None = (),
    known_forms: Mapping[str, dict[str, Any]] | None = None,
    context_providers: Collection[str] | None = None,
    directory: Directory | None = None,
) -> ParsedBundle:
    """Parse and check a bundle of BPMN, DMN and form files; raise InvalidDefinitionError.

    ``handlers`` says which service handlers exist and which of them this process may call (a refusal is a problem
    at the service task's element and line); ``None`` skips that check (re-loading an already deployed version
    whose handler may have gone: every call is checked again when it runs). ``context_providers`` names the case-file
    providers a user task may list in its ``context`` property or its form (``engine.casefile``); ``None`` skips
    that check. Unless ``handlers`` is ``None``, CareFlow's value checks run too (``engine.bpmn.validation``);
    ``directory`` (groups, users, message senders) adds the checks that need it. Warnings never block: they are
    in the returned bundle's ``warnings`` and, next to the errors, in InvalidDefinitionError's problems.
    """
    check: HandlerCheck | None = None
    if handlers is not None:
        check = handlers if isinstance(handlers, HandlerCheck) else _Known(handlers)
    problems = _Problems()
    parser = CareflowParser(validator=VALIDATOR)
    forms = dict(known_forms or {})
    strict = check is not None
    called = _called_across(files, process_key) if len(files) > 1 else set()
    for source in files:
        _add_file(parser, source, problems, forms, directory if strict else None, strict, process_key, called)
    if problems.blocking:
        problems.flush()
        raise InvalidDefinitionError(problems.items)
    key = _choose_process(parser, process_key, problems, files)
    try:
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
    except ValidationException as exc:
        problems.add(*_locate(exc, problems), _message(exc))
        problems.flush()
        raise InvalidDefinitionError(problems.items) from None
    problems.flush()
    specs = [spec, *subprocess_specs.values()]
    name = getattr(spec, "description", None) or key
    if len(key) > MAX_KEY or len(str(name)) > MAX_NAME:
        problems.at(key[:MAX_KEY], f"process id must be at most {MAX_KEY} characters and its name at most {MAX_NAME}")
    for one in specs:
        _lint_spec(one, problems, check, forms, key, context_providers)
        if strict:
            _lint_values(one, problems, forms, directory)
    if problems.blocking:
        raise InvalidDefinitionError(problems.items)
    install_clocked_timers(specs)
    return ParsedBundle(key, str(name), spec, subprocess_specs, forms, problems.warnings())


def _called_across(files: list[SourceFile], process_key: str | None) -> set[str]:
    """Processes the call activities of the running processes of the bundle's BPMN files call, transitively: a
    process of another file they call is kept even when marked not executable (see _add_file)."""
    called: set[str] = set()
    for source in files:
        if source.kind != "bpmn":
            continue
        try:
            root = etree.fromstring(source.content, _XML_PARSER)
        except etree.XMLSyntaxError:
            continue  # reported by _add_file
        running = [str(p.get("id")) for p in root.iter(f"{{{_BPMN}}}process")
                   if p.get("id") and (p.get("isExecutable", "true") != "false" or p.get("id") == process_key)]
        called |= called_by(root, running)
    return called


def _add_file(parser: Any, source: SourceFile, problems: _Problems, forms: dict[str, dict[str, Any]],
              directory: Directory | None = None, strict: bool = False, process_key: str | None = None,
              called: set[str] | None = None) -> None:
    name = source.filename
    if source.kind is None:
        problems.add(name, None, None, "unsupported file type (expected .bpmn, .dmn or .json form)")
        return
    if source.kind == "form":
        try:
            form = json.loads(source.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.add(name, getattr(exc, "lineno", None), None, f"not valid JSON: {exc}")
            return
        found = check_form_definition(form, file=name)
        problems.items.extend(found)
        if not found:
            forms[str(form.get("id") or name.rsplit("/", 1)[-1].rsplit(".", 1)[0])] = form
        return
    try:
        root = etree.fromstring(source.content, _XML_PARSER)
    except etree.XMLSyntaxError as exc:
        problems.add(name, exc.lineno, None, f"malformed XML: {exc.msg}")
        return
    problems.index(name, root)
    if source.kind == "bpmn":  # pools not chosen to run (isExecutable="false", called by nothing that runs): left out
        idle = idle_processes(root, process_key, called or set())
        for process in idle:
            process.getparent().remove(process)
        if idle:  # a data store only the left-out pools used goes with them (SpiffWorkflow parses every one)
            used = {str(r.get("dataStoreRef")) for r in root.iter(f"{{{_BPMN}}}dataStoreReference")}
            for store in root.findall(f"{{{_BPMN}}}dataStore"):
                if store.get("id") not in used:
                    root.remove(store)
    # Elements CareFlow cannot run (compat); other modelers' extensions mapped, ignored or refused (interchange).
    findings = [*unsupported(root), *prepare_bpmn(root).refused] if source.kind == "bpmn" else prepare_dmn(root).refused
    for finding in findings:
        problems.add(name, finding.line, finding.element_id, finding.message)
    if source.kind == "bpmn" and strict:  # CareFlow's vocabulary, connections, message senders (engine/bpmn/validation.py)
        problems.deferred += [problems.found(name, found) for found in check_document(root, directory)]
    try:
        if source.kind == "bpmn":
            parser.add_bpmn_xml(etree.ElementTree(root), filename=name)
        else:
            parser.add_dmn_xml(root, filename=name)
    except ValidationException as exc:
        problems.add(*_locate(exc, problems, name), _message(exc))


def _choose_process(parser: Any, wanted: str | None, problems: _Problems, files: list[SourceFile]) -> str:
    executable = parser.get_process_ids()
    called = {dep for deps in [parser.get_process_dependencies()] for dep in deps}
    roots = [pid for pid in executable if pid not in called]
    first_file = files[0].filename if files else ""
    if wanted is not None:
        if wanted not in executable:
            problems.add(first_file, None, wanted, f"no executable process with id {wanted!r} in these files")
            raise InvalidDefinitionError(problems.items)
        return wanted
    if len(roots) == 1:
        return str(roots[0])
    message = (
        "no executable process (isExecutable=\"true\") found"
        if not roots
        else f"several top-level processes ({', '.join(sorted(roots))}); name the one to deploy"
    )
    problems.add(first_file, None, None, message)
    raise InvalidDefinitionError(problems.items)


def _locate(exc: ValidationException, problems: _Problems, default_file: str = "") -> tuple[str, int | None, str | None]:
    element_id = getattr(exc, "id", None) or None
    line = getattr(exc, "line_number", None) or None
    file = getattr(exc, "file_name", None) or default_file
    if element_id and element_id in problems.lines:
        known_file, known_line = problems.lines[element_id]
        file, line = file or known_file, line or known_line
    return file, int(line) if line else None, element_id


# SpiffWorkflow's refusals that designers meet in other modelers' files (the BPMN MIWG suite: empty collapsed
# sub-processes, service tasks with no implementation, a task splitting without a gateway), said as what to do.
_LIBRARY_MESSAGES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], str], str]], ...] = (
    (re.compile(r"Exactly one start event is required in a SubWorkflow Task; found (\d+)"),
     lambda m, tag: f"a sub-process needs exactly one start event inside it and has {m.group(1)}: model its inner "
                    "flow (a collapsed sub-process exported by a drawing tool is empty), or make it a task"),
    (re.compile(r"A Service Task must have an operator"),
     lambda m, tag: "this service task names no CareFlow service handler: choose one from the handler catalogue "
                    "(the designer's Handlers page), or make it a manual task if people do it outside CareFlow"),
    (re.compile(r"Multiple outgoing flows are not supported for tasks of type"),
     lambda m, tag: f"this {tag or 'task'} has several outgoing flows: CareFlow does not split the path after a task "
                    "on its own; put an exclusive or parallel gateway after it"),
    (re.compile(r"Non-default exclusive outgoing sequence flow without condition"),
     lambda m, tag: "this flow leaves an exclusive gateway with no condition and is not the gateway's default flow: "
                    "give it a condition, or make it the default"),
    (re.compile(r"Data Store with name (.+) has no implementation"),
     lambda m, tag: f"data store {m.group(1).strip()!r} has no implementation in CareFlow: keep the data in the "
                    "process's variables, or remove the data store"),
)


def _message(exc: ValidationException) -> str:
    """The library's whole message on one line (a name with a line break, ``name="Case&#10;Archive"`` as Trisotech
    and Visio write them, once cut it at the break); the refusals listed above in CareFlow's words."""
    text = re.sub(r"\s*\n\s*", " ", str(exc)).replace("Source Details: ", "").strip()
    tag = str(getattr(exc, "tag", "") or "").rpartition(":")[2]
    for pattern, say in _LIBRARY_MESSAGES:
        found = pattern.search(text)
        if found:
            return say(found, tag)
    return re.sub(r"\.{2,}$", ".", text)


def _lint_spec(spec: Any, problems: _Problems, handlers: HandlerCheck | None, forms: Mapping[str, Any],
               process_key: str, providers: Collection[str] | None = None) -> None:
    for task_spec in spec.task_specs.values():
        element = getattr(task_spec, "bpmn_id", None)
        if not element:
            continue
        if len(element) > MAX_ELEMENT or len(getattr(task_spec, "bpmn_name", None) or "") > MAX_TITLE:
            problems.at(element[:MAX_ELEMENT], f"element ids may have at most {MAX_ELEMENT} characters "
                                               f"and names at most {MAX_TITLE}")
        definition = getattr(task_spec, "event_definition", None)
        for inner in getattr(definition, "event_definitions", [definition]):
            _lint_timer(inner, element, problems)
        script = getattr(task_spec, "script", None)
        if isinstance(script, str):
            _lint_code(script, "exec", element, problems, "script")
        for hook in ("preScript", "postScript"):
            code = (getattr(task_spec, "extensions", None) or {}).get(hook)
            if code:
                _lint_code(code, "exec", element, problems, hook)
        for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
            source = getattr(condition, "args", [condition])[0] if condition is not None else None
            if source is not None:
                _lint_code(str(source), "eval", element, problems, "condition")
        if isinstance(task_spec, ServiceTask):
            _lint_service(task_spec, element, problems, handlers, process_key)
        if isinstance(task_spec, UserTask):
            form_key = properties(task_spec).get("formKey")
            if form_key and form_key not in forms:
                problems.at(element, f"form {form_key!r} is not deployed (add forms/{form_key}.json)")
            _lint_user_task(properties(task_spec), element, problems)
            if providers is not None:
                _lint_context(properties(task_spec), forms.get(form_key) if form_key else None, element, problems,
                              providers)


def _lint_values(spec: Any, problems: _Problems, forms: Mapping[str, Any], directory: Directory | None) -> None:
    """CareFlow's value checks of each user task, and names read downstream that look like a mistyped form field."""
    found: list[Finding] = []
    for task_spec in spec.task_specs.values():
        element = getattr(task_spec, "bpmn_id", None)
        if element and isinstance(task_spec, UserTask):
            found += [replace(f, element_id=element) for f in check_user_task(
                properties(task_spec), getattr(task_spec, "lane", None), directory)]
    found += downstream_names(spec, forms)
    problems.items += [problems.found("", f) for f in found]


def _lint_user_task(props: dict[str, str], element: str, problems: _Problems) -> None:
    assignment = props.get("assignment") or "queue"
    if assignment not in ("queue", "round_robin", "least_loaded", "skills"):
        problems.at(element, f"assignment {assignment!r} must be queue, round_robin, least_loaded or skills")
    if assignment == "skills" and not props.get("requiredSkills"):
        problems.at(element, "assignment 'skills' needs requiredSkills (comma-separated)")
    workdays = props.get("dueInWorkdays")
    if workdays is not None and not (workdays.strip().isdigit()):
        problems.at(element, f"dueInWorkdays {workdays!r} must be a whole number of working days")
    if workdays is not None and props.get("dueIn"):
        problems.at(element, "give either dueIn or dueInWorkdays, not both")
    if (props.get("excludeUsers") or "").strip():
        _lint_code(props["excludeUsers"].strip(), "eval", element, problems, "excludeUsers")


def _lint_context(props: dict[str, str], form: Mapping[str, Any] | None, element: str, problems: _Problems,
                  providers: Collection[str]) -> None:
    """Every case-file provider the task lists (its ``context`` property, its form's ``careflow.context``) exists."""
    listed = [p.strip() for p in (props.get("context") or "").split(",") if p.strip()]
    extra = ((form or {}).get("careflow") or {}).get("context") if isinstance(form, Mapping) else None
    listed += [str(p) for p in extra] if isinstance(extra, list) else []
    unknown = [p for p in listed if p not in providers]
    if unknown:
        problems.at(element, f"unknown case-file provider(s) {', '.join(unknown)} in context; known: "
                             f"{', '.join(sorted(providers))}")


# Column sizes the ids and names end up in (process_definition.key, human_task.task_name/title, audit subject ids).
MAX_KEY, MAX_NAME, MAX_ELEMENT, MAX_TITLE = 100, 256, 200, 500

_LOOKS_ISO = re.compile(r"^(R\d*_?)?P(T?\d|\d)", re.IGNORECASE)
_TIMER_KINDS = {TimeDateEventDefinition: "date", DurationTimerEventDefinition: "duration", CycleTimerEventDefinition: "cycle"}


def _lint_timer(definition: Any, element: str, problems: _Problems) -> None:
    kind = next((k for cls, k in _TIMER_KINDS.items() if isinstance(definition, cls)), None)
    if kind is None:
        return
    expression = (definition.expression or "").strip()
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        problems.at(element, f"timer expression {expression!r} is not valid; quote ISO values, e.g. \"P2D\"")
        return
    if isinstance(node, ast.Name):
        if _LOOKS_ISO.match(node.id):  # PT5M unquoted parses as a variable name and fails at run time
            problems.at(element, f"timer expression {expression} must be quoted: \"{expression}\"")
        return  # a process variable holding the value; checked when the timer is reached
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        _lint_code(expression, "eval", element, problems, "timer expression")
        return
    try:
        check_timer_value(kind, node.value)
    except Exception as exc:  # the library raises bare Exception for bad durations
        problems.at(element, f"timer {kind} {node.value!r} is not a valid ISO 8601 {kind}: {exc}")


def _lint_code(code: str, mode: str, element: str, problems: _Problems, what: str) -> None:
    for line, message in check_script(code, mode):  # type: ignore[arg-type]
        suffix = f" (line {line} of the {what})" if line else ""
        problems.at(element, f"{what} does not compile: {message}{suffix}")


def _lint_service(task_spec: Any, element: str, problems: _Problems, handlers: HandlerCheck | None,
                  process_key: str) -> None:
    name = task_spec.operation_name
    params = {param: str(spec.get("value", "")) for param, spec in (task_spec.operation_params or {}).items()}
    if handlers is not None and name not in handlers.names():
        known = ", ".join(sorted(handlers.names())) or "none registered"
        problems.at(element, f"service handler {name!r} is not registered (known: {known})")
    elif handlers is not None:
        refusal = handlers.why_not(name, process_key, params)
        if refusal is not None:
            problems.at(element, refusal)
    for param, spec in (task_spec.operation_params or {}).items():
        _lint_code(str(spec.get("value", "")), "eval", element, problems, f"parameter {param!r}")
