"""The process designer's use cases: drafts, deploy from the modeler, versions, diff, heatmap, path (import: model_import).

Deploying from the modeler sends one BPMN document; the bundle deployed with it is completed
here: the DMN and form files of the process's latest version, and every form the diagram names
(``formKey``) taken from its draft or from the latest deployment that has it. Validation, the new
immutable version and its audit event (who, when) are ``definitions.deploy_definition``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lxml import etree
from sqlalchemy import Float, and_, case, cast, delete, func, select
from sqlalchemy.orm import Session

from engine import authz
from engine.bpmn.loader import SourceFile
from engine.bpmn.xmldiff import BpmnDiff, diff_bpmn
from engine.context import EngineContext
from engine.db.designer import DesignerDraft
from engine.db.models import DefinitionFile, HumanTask, HumanTaskStatus, ProcessDefinition, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import (
    ConflictError,
    InstanceNotFoundError,
    InvalidInputError,
    NotFoundError,
)
from engine.runtime import instance as runtime
from engine.runtime.trail import trail
from engine.services import definitions
from engine.services.authz import require_any_role, require_role
from engine.services.instances import parse_id
from engine.views import Actor, DefinitionView, DeployResult

SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
KINDS = ("process", "form")
MAX_DRAFT = 2 * 1024 * 1024
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


@dataclass(frozen=True)
class DraftView:
    kind: str
    name: str
    content: str
    base_version: int | None
    revision: int
    updated_by: str
    updated_at: Any


@dataclass(frozen=True)
class FormEntry:
    form_id: str
    source: str  # draft | deployed
    process_key: str | None


@dataclass(frozen=True)
class ActivityStat:
    element_id: str
    title: str
    count: int
    open: int
    completed: int
    avg_seconds: float | None


@dataclass(frozen=True)
class InstancePath:
    instance_id: str
    process_key: str
    version: int
    status: str
    current: tuple[str, ...]
    visited: dict[str, int]
    failed: tuple[str, ...]


# --- drafts ---------------------------------------------------------------------------------------------------------

def _draft_view(row: DesignerDraft) -> DraftView:
    return DraftView(row.kind, row.name, row.content, row.base_version, row.revision, row.updated_by, row.updated_at)


def _check_draft(kind: str, name: str, content: str) -> None:
    if kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}")
    if not name or len(name) > 128 or not name.replace("_", "").replace("-", "").isalnum():
        raise InvalidInputError("a draft name is 1–128 letters, digits, - or _")
    if len(content) > MAX_DRAFT:
        raise InvalidInputError(f"a draft may hold at most {MAX_DRAFT} characters")
    if kind == "form":
        try:
            json.loads(content)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"a form draft must be JSON: {exc}") from exc


def save_draft(ctx: EngineContext, *, kind: str, name: str, content: str, actor: Actor,
               base_version: int | None = None, revision: int | None = None) -> DraftView:
    """Create or replace the draft ``kind``/``name``. ``revision`` (when given) must be the stored one.

    Raises InvalidInputError, ConflictError (someone saved in between), PermissionDeniedError.
    """
    require_role(actor, "designer")
    _check_draft(kind, name, content)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.scalars(select(DesignerDraft).where(DesignerDraft.kind == kind, DesignerDraft.name == name)
                              .with_for_update()).first()
        if row is None:
            row = DesignerDraft(kind=kind, name=name, revision=0)
            session.add(row)
        elif revision is not None and revision != row.revision:
            raise ConflictError(f"{row.updated_by} saved this draft since you opened it (revision {row.revision}); "
                                "reload it first")
        row.content, row.updated_by, row.updated_at = content, actor.username, now
        row.base_version = base_version if base_version is not None else row.base_version
        row.revision += 1
        session.flush()
        return _draft_view(row)


def get_draft(ctx: EngineContext, *, kind: str, name: str, actor: Actor) -> DraftView:
    """Raises NotFoundError."""
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.scalars(select(DesignerDraft).where(DesignerDraft.kind == kind, DesignerDraft.name == name)).first()
        if row is None:
            raise NotFoundError(f"no {kind} draft {name!r}")
        return _draft_view(row)


def list_drafts(ctx: EngineContext, *, actor: Actor, kind: str | None = None) -> list[DraftView]:
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        stmt = select(DesignerDraft).order_by(DesignerDraft.kind, DesignerDraft.name)
        if kind is not None:
            stmt = stmt.where(DesignerDraft.kind == kind)
        return [_draft_view(r) for r in session.scalars(stmt)]


def delete_draft(ctx: EngineContext, *, kind: str, name: str, actor: Actor) -> None:
    require_role(actor, "designer")
    with unit_of_work(ctx.sessions) as session:
        row = session.scalars(select(DesignerDraft).where(DesignerDraft.kind == kind, DesignerDraft.name == name)).first()
        if row is None:
            raise NotFoundError(f"no {kind} draft {name!r}")
        session.delete(row)


# --- forms ------------------------------------------------------------------------------------------------------------

def _deployed_forms(session: Session) -> dict[str, tuple[str, str, str]]:
    """form id → (filename, content, process key), from the newest deployment holding each form."""
    rows = session.execute(
        select(DefinitionFile.filename, DefinitionFile.content, ProcessDefinition.key)
        .join(ProcessDefinition, ProcessDefinition.id == DefinitionFile.definition_id)
        .where(DefinitionFile.kind == "form").order_by(ProcessDefinition.deployed_at, ProcessDefinition.id)
    ).all()
    found: dict[str, tuple[str, str, str]] = {}
    for filename, content, key in rows:
        try:
            form_id = str(json.loads(content).get("id") or filename.rsplit(".", 1)[0])
        except (json.JSONDecodeError, AttributeError):
            continue
        found[form_id] = (filename, content, key)
    return found


def list_forms(ctx: EngineContext, *, actor: Actor) -> list[FormEntry]:
    """Every form a diagram may name: drafts and deployed forms (a draft wins)."""
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        entries = {fid: FormEntry(fid, "deployed", key) for fid, (_f, _c, key) in _deployed_forms(session).items()}
        for name in session.scalars(select(DesignerDraft.name).where(DesignerDraft.kind == "form")):
            entries[name] = FormEntry(name, "draft", entries[name].process_key if name in entries else None)
        return sorted(entries.values(), key=lambda e: e.form_id)


def get_form(ctx: EngineContext, form_id: str, *, actor: Actor) -> dict[str, Any]:
    """The form's schema: its draft if there is one, else the newest deployed. Raises NotFoundError."""
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        draft = session.scalar(select(DesignerDraft.content).where(DesignerDraft.kind == "form",
                                                                   DesignerDraft.name == form_id))
        if draft is not None:
            return dict(json.loads(draft))
        deployed = _deployed_forms(session).get(form_id)
        if deployed is None:
            raise NotFoundError(f"no form {form_id!r}")
        return dict(json.loads(deployed[1]))


# --- deploy and import --------------------------------------------------------------------------------------------------

def _process_id_and_forms(xml: bytes) -> tuple[str | None, set[str]]:
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError:
        return None, set()
    processes = [p for p in root.iter(f"{{{BPMN}}}process") if p.get("isExecutable") == "true"]
    keys = {str(p.get("value")) for p in root.iter(f"{{{SPIFF}}}property") if p.get("name") == "formKey"}
    return (str(processes[0].get("id")) if len(processes) == 1 else None), keys


def _bundle(session: Session, key: str | None, xml: bytes, extra: list[SourceFile],
            filename: str | None = None) -> list[SourceFile]:
    """The BPMN document plus the files it needs: the latest version's DMN/forms and the named forms."""
    _, form_keys = _process_id_and_forms(xml)
    latest = definitions.find_definition(session, key, None) if key and _exists(session, key) else None
    bpmn_name = f"{key or 'process'}.bpmn"
    files: dict[str, SourceFile] = {}
    if latest is not None:
        for source in latest.files:
            if source.kind == "bpmn":
                bpmn_name = source.filename
            else:
                files[source.filename] = SourceFile(source.filename, source.content.encode("utf-8"))
    deployed = _deployed_forms(session)
    drafts = dict(session.execute(select(DesignerDraft.name, DesignerDraft.content)
                                  .where(DesignerDraft.kind == "form", DesignerDraft.name.in_(form_keys))).all())
    for form_key in sorted(form_keys):
        if form_key in drafts:
            files = {n: f for n, f in files.items() if _form_id(f) != form_key}
            files[f"{form_key}.json"] = SourceFile(f"{form_key}.json", drafts[form_key].encode("utf-8"))
        elif form_key in deployed and not any(_form_id(f) == form_key for f in files.values()):
            form_file, form_text, _ = deployed[form_key]
            files[form_file] = SourceFile(form_file, form_text.encode("utf-8"))
    for added in extra:
        files[added.filename] = added
    return [SourceFile(filename or bpmn_name, xml), *files.values()]


def _form_id(source: SourceFile) -> str | None:
    if source.kind != "form":
        return None
    try:
        return str(json.loads(source.content).get("id") or source.filename.rsplit(".", 1)[0])
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        return None


def _exists(session: Session, key: str) -> bool:
    return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key).limit(1)) is not None


def deploy_from_modeler(ctx: EngineContext, *, xml: str, actor: Actor, validate_only: bool = False,
                        extra_files: list[SourceFile] | None = None, filename: str | None = None,
                        process_key: str | None = None) -> DeployResult | None:
    """Validate (and unless ``validate_only``, deploy) a diagram from the modeler as the next version.

    The process draft of that key is removed once deployed. Raises InvalidDefinitionError (problems
    with file, line and element id), PermissionDeniedError, ConcurrentModificationError.
    """
    require_role(actor, "designer")
    content = xml.encode("utf-8")
    key = process_key or _process_id_and_forms(content)[0]
    with unit_of_work(ctx.sessions, write=False) as session:
        files = _bundle(session, key, content, list(extra_files or []), filename)
    result = definitions.deploy_definition(ctx, files=files, actor=actor, process_key=key,
                                           validate_only=validate_only)
    if result is not None and result.created:
        with unit_of_work(ctx.sessions) as session:
            session.execute(delete(DesignerDraft).where(
                and_(DesignerDraft.kind == "process", DesignerDraft.name == result.definition.key)))
    return result


# --- versions, XML, diff ----------------------------------------------------------------------------------------------

def list_versions(ctx: EngineContext, key: str, *, actor: Actor) -> list[DefinitionView]:
    """Every version of a process, newest first, each with its number of instances. Raises DefinitionNotFoundError."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                               .order_by(ProcessDefinition.version.desc())).all()
        if not rows:
            definitions.find_definition(session, key, None)  # raises DefinitionNotFoundError
        counts = dict(session.execute(
            select(ProcessInstance.definition_id, func.count()).where(
                ProcessInstance.definition_id.in_([r.id for r in rows])).group_by(ProcessInstance.definition_id)
        ).all())
        return [definitions._view(r, counts.get(r.id, 0)) for r in rows]


def get_process_xml(ctx: EngineContext, key: str, version: int | None, *, actor: Actor) -> tuple[str, str]:
    """(filename, text) of the BPMN file of a version (the latest when None). Raises DefinitionNotFoundError."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = definitions.find_definition(session, key, version)
        for source in row.files:
            if source.kind == "bpmn":
                return source.filename, source.content
    raise NotFoundError(f"{key} has no BPMN file")


def diff_versions(ctx: EngineContext, key: str, old: int, new: int, *, actor: Actor) -> BpmnDiff:
    """Elements added, removed and changed from version ``old`` to ``new``. Raises DefinitionNotFoundError."""
    _, before = get_process_xml(ctx, key, old, actor=actor)
    _, after = get_process_xml(ctx, key, new, actor=actor)
    return diff_bpmn(before, after)


# --- heatmap and instance path -----------------------------------------------------------------------------------------

def _seconds(db_name: str) -> Any:
    if db_name == "sqlite":
        return (func.julianday(HumanTask.completed_at) - func.julianday(HumanTask.created_at)) * 86400.0
    return func.extract("epoch", HumanTask.completed_at - HumanTask.created_at)


def heatmap(ctx: EngineContext, key: str, version: int | None, *, actor: Actor) -> list[ActivityStat]:
    """Per user task of a version: how many were created, are open, were completed, and their mean duration.

    One grouped query over ``human_task`` joined on the indexed ``instance_id`` and
    ``process_instance.definition_id``. Raises DefinitionNotFoundError, PermissionDeniedError.
    """
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        definition_id, _ = definitions.latest_version(session, key, version)
        done = HumanTask.status == HumanTaskStatus.COMPLETED.value
        open_ = HumanTask.status.in_((HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value))
        seconds = cast(_seconds(session.get_bind().dialect.name), Float)
        rows = session.execute(
            select(HumanTask.task_name, func.max(HumanTask.title), func.count(),
                   func.sum(case((open_, 1), else_=0)), func.sum(case((done, 1), else_=0)),
                   func.avg(seconds).filter(done))
            .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
            .where(ProcessInstance.definition_id == definition_id)
            .group_by(HumanTask.task_name).order_by(HumanTask.task_name)
        ).all()
        return [ActivityStat(str(name), str(title), int(count), int(opened or 0), int(completed or 0),
                             round(float(avg), 1) if avg is not None else None)
                for name, title, count, opened, completed, avg in rows]


def instance_path(ctx: EngineContext, instance_id: str, *, actor: Actor) -> InstancePath:
    """Where an instance waits now and which elements it has passed (how often) — the shape of its run, not its data
    (the ``inspect`` grant on its process). Raises InstanceNotFoundError, PermissionDeniedError."""
    require_role(actor, "designer", "supervisor")
    key = parse_id(instance_id)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(ProcessInstance, key)
        if row is None:
            raise InstanceNotFoundError(f"no process instance {key}")
        authz.require(ctx, actor, "inspect", "process", row.process_key)
        version = int(session.scalar(select(ProcessDefinition.version)
                                     .where(ProcessDefinition.id == row.definition_id)) or 0)
        path = trail(runtime.restore(ctx, session, row, ctx.clock))
        return InstancePath(str(row.id), row.process_key, version, row.status, path.current, path.visited, path.failed)
