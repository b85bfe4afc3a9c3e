"""Importing a BPMN file from another modeler: deployed at once, or opened as a draft with what to fix.

The file is stored as it came (only ``isExecutable`` is set: true on the chosen pool, false on the processes it
does not call), so metadata CareFlow ignores goes back to its modeler intact; the executed copy is derived when a
version loads (engine.bpmn.interchange). ``import_definition`` deploys (or refuses with every problem located);
``import_as_draft`` opens any well-formed BPMN 2.0 file as a process draft, with the list of what was ignored, what
is not run (``dropped``) and what must be fixed before it deploys. Neither stores anything for a malformed,
oversized or DTD-carrying file (no entity is ever expanded).
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.bpmn.compat import BPMN, unsupported
from engine.bpmn.interchange import (
    Choice,
    Report,
    choose_process,
    idle_processes,
    mark_executable,
    owners,
    prepare_bpmn,
)
from engine.bpmn.loader import SourceFile
from engine.bpmn.validation import ERROR, check_document
from engine.context import EngineContext
from engine.errors import DefinitionProblem, EngineError, InvalidDefinitionError, InvalidInputError
from engine.services import designer
from engine.services.authz import require_role
from engine.views import Actor, DeployResult

log = logging.getLogger(__name__)
MAX_IMPORT = designer.MAX_DRAFT  # bytes: a draft holds at most this many characters
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_NAME = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class ImportResult:
    deploy: DeployResult | None
    mapped: tuple[str, ...]  # other modelers' extensions turned into CareFlow's
    ignored: tuple[DefinitionProblem, ...] = ()  # other modelers' metadata CareFlow does not use (kept in the file)
    dropped: tuple[DefinitionProblem, ...] = ()  # processes not run (other pools, referenced by nobody), their problems


@dataclass(frozen=True)
class DraftImport:
    draft: designer.DraftView
    process_key: str | None  # the pool chosen to run; None when the file has no process with flow nodes
    was_executable: bool  # the chosen process's isExecutable before the import set it
    candidates: tuple[str, ...]  # processes with flow nodes (pools) the import could have chosen
    ambiguous: bool  # several candidates and no ``process`` chosen: the first was taken
    mapped: tuple[str, ...]
    ignored: tuple[DefinitionProblem, ...]
    must_fix: tuple[DefinitionProblem, ...]  # what stops a deploy (the refusals, and every other problem)
    dropped: tuple[DefinitionProblem, ...] = ()  # processes not run and what would be wrong in them: no must-fix

    @property
    def deployable(self) -> bool:
        return not self.must_fix


def _basename(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1] or "import.bpmn"


def read_bpmn(filename: str, content: bytes) -> Any:
    """Parse an uploaded BPMN 2.0 file safely. Raises InvalidDefinitionError (located) for anything else."""
    def refuse(line: int | None, message: str) -> InvalidDefinitionError:
        return InvalidDefinitionError([DefinitionProblem(filename, line, None, message)])

    if len(content) > MAX_IMPORT:
        raise refuse(None, f"the file is larger than {MAX_IMPORT} bytes")
    if not content.strip():
        raise refuse(None, "the file is empty")
    try:
        root = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise refuse(exc.lineno, f"malformed XML: {exc.msg}") from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise refuse(None, f"not a BPMN document: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise refuse(1, "a DOCTYPE or entity declarations are not accepted in a BPMN file")
    if not isinstance(root.tag, str) or etree.QName(root).namespace != BPMN or etree.QName(root).localname != "definitions":
        raise refuse(root.sourceline, "not a BPMN 2.0 document (expected bpmn:definitions)")
    return root


def inspect(root: Any) -> Report:
    """What the loader will map, ignore and refuse in this document (the document is not changed)."""
    executed = copy.deepcopy(root)
    report = prepare_bpmn(executed)
    report.refused[:0] = unsupported(root)
    return report


def _located(filename: str, findings: list[Any]) -> tuple[DefinitionProblem, ...]:
    return tuple(DefinitionProblem(filename, f.line, f.element_id, f.message) for f in findings)


def _text(root: Any, content: bytes) -> str:
    """The document as text, line for line as uploaded (an XML declaration only where the file had one)."""
    if content.lstrip().startswith(b"<?xml"):
        return str(etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8"))
    return str(etree.tostring(root, encoding="unicode"))


def import_definition(ctx: EngineContext, *, filename: str, content: bytes, actor: Actor,
                      validate_only: bool = False, extra_files: list[SourceFile] | None = None,
                      process: str | None = None) -> ImportResult:
    """Deploy a BPMN file from another modeler as it came: what CareFlow maps runs, what it ignores is listed.

    In a collaboration the pool to run is ``process``, else the one marked executable, else the only one with
    flow nodes; several candidates are a problem that names them. Whatever CareFlow cannot run is refused as a list
    of problems (file, line, element id) and nothing is stored. Raises InvalidDefinitionError, PermissionDeniedError.
    """
    require_role(actor, "designer")
    name = _basename(filename)
    root = read_bpmn(name, content)
    choice = choose_process(root, process)
    _require_choice(name, choice, process)
    assert choice.process_id is not None
    mark_executable(root, choice.process_id)
    report = inspect(root)
    result = designer.deploy_from_modeler(ctx, xml=_text(root, content), actor=actor, validate_only=validate_only,
                                          extra_files=extra_files, filename=name, process_key=choice.process_id)
    return ImportResult(result, tuple(report.mapped), _located(name, report.ignored),
                        _dropped(name, root, choice, report))


def _require_choice(filename: str, choice: Choice, wanted: str | None) -> None:
    if choice.process_id is not None and not choice.ambiguous:
        return
    if wanted is not None:
        message = f"no process {wanted!r} in this file (processes: {', '.join(choice.candidates) or 'none'})"
    elif choice.ambiguous:
        message = (f"several pools could run ({', '.join(choice.candidates)}); choose one with the process "
                   "parameter")
    else:
        message = "no process with flow nodes to run in this file"
    raise InvalidDefinitionError([DefinitionProblem(filename, None, None, message)])


def import_as_draft(ctx: EngineContext, *, filename: str, content: bytes, actor: Actor,
                    process: str | None = None, extra_files: list[SourceFile] | None = None) -> DraftImport:
    """Open any well-formed BPMN 2.0 file as a process draft, marked executable, with what to fix to deploy it.

    The refusals of a deploy become ``must_fix`` items; ignored metadata is listed and kept in the draft. Raises
    InvalidInputError (400: not well-formed XML, not BPMN 2.0, too large, a DTD; ``details.problems`` locates it),
    PermissionDeniedError.
    """
    require_role(actor, "designer")
    name = _basename(filename)
    try:
        root = read_bpmn(name, content)
    except InvalidDefinitionError as exc:
        raise InvalidInputError(exc.problems[0].message, details={"problems": [p.to_dict() for p in exc.problems]}) \
            from None
    choice = choose_process(root, process)
    must_fix: list[DefinitionProblem] = []
    if process is not None and choice.process_id is None:
        raise InvalidInputError(f"no process {process!r} in this file",
                                details={"candidates": list(choice.candidates)})
    if choice.ambiguous:
        must_fix.append(DefinitionProblem(name, None, choice.process_id, (
            f"several pools could run ({', '.join(choice.candidates)}); {choice.process_id} was opened: import "
            "again with process=<id> to choose another")))
    if choice.process_id is not None:
        mark_executable(root, choice.process_id)
    report = inspect(root)
    text = _text(root, content)
    draft_name = _draft_name(choice.process_id or root.get("id") or name.rsplit(".", 1)[0])
    if choice.process_id is None:
        must_fix.append(DefinitionProblem(name, None, None, "no process with flow nodes to run in this file: draw "
                                                            "one in the modeler"))
    else:
        must_fix.extend(_deploy_problems(ctx, actor, text, name, choice.process_id, extra_files))
    draft = designer.save_draft(ctx, kind="process", name=draft_name, content=text, actor=actor)
    dropped = _dropped(name, root, choice, report) if choice.process_id is not None else ()
    return DraftImport(draft, choice.process_id, choice.was_executable, choice.candidates, choice.ambiguous,
                       tuple(report.mapped), _located(name, report.ignored), tuple(must_fix), dropped)


def _dropped(filename: str, root: Any, choice: Choice, report: Report) -> tuple[DefinitionProblem, ...]:
    """The processes the loader leaves out once ``choice`` runs (engine.bpmn.interchange.idle_processes), each with
    why, then what would be wrong inside them: listed, never must-fix (they are not run; the file keeps them)."""
    idle = idle_processes(root, choice.process_id)
    if not idle:
        return ()
    pools = {str(p.get("processRef")).split(":")[-1] for p in root.iter(f"{{{BPMN}}}participant")}
    found: list[DefinitionProblem] = []
    for process in idle:
        pid, label = str(process.get("id")), process.get("name")
        named = f"process {pid}" + (f" ({label!r})" if label else "")
        why = ("a pool that was not chosen to run" if pid in pools
               else "referenced by no pool" if pid in choice.dropped
               else "called only from a pool that was not chosen")
        found.append(DefinitionProblem(filename, process.sourceline, pid,
                                       f"{named} is not run: {why}; kept in the file, its problems do not stop a "
                                       "deploy", "warning"))
    by_id, by_line = owners(root)
    idle_ids = {str(p.get("id")) for p in idle}
    inside: list[Any] = [*report.refused, *(f for f in check_document(root) if f.severity == ERROR)]
    for finding in inside:
        owner = by_id.get(finding.element_id or "") or by_line.get(finding.line or 0)
        if owner in idle_ids:
            found.append(DefinitionProblem(filename, finding.line, finding.element_id,
                                           f"not run ({owner}): {finding.message}", "warning"))
    return tuple(found)


def _draft_name(raw: str) -> str:
    cleaned = _NAME.sub("_", raw).strip("_")[:128]
    return cleaned or "imported"


def _deploy_problems(ctx: EngineContext, actor: Actor, text: str, name: str, key: str,
                     extra_files: list[SourceFile] | None) -> list[DefinitionProblem]:
    """Every problem a deploy of this draft would meet (nothing is stored)."""
    try:
        designer.deploy_from_modeler(ctx, xml=text, actor=actor, validate_only=True, extra_files=extra_files,
                                     filename=name, process_key=key)
    except InvalidDefinitionError as exc:
        return list(exc.problems)
    except EngineError as exc:
        return [DefinitionProblem(name, None, None, exc.message)]
    except Exception:  # a file the library chokes on must still open as a draft: log it, list it
        log.exception("checking imported draft %s failed", name)
        return [DefinitionProblem(name, None, None, "CareFlow could not check this file; fix it in the modeler and "
                                                    "validate again")]
    return []
