"""The process designer's use cases: drafts, deploy from the modeler, versions, diff, heatmap, path (import: model_import).

Deploying from the modeler sends one BPMN document; the bundle deployed with it is completed
here: the DMN and form files of the process's latest version, and every form the diagram names
(``formKey``) taken from its draft or from the latest deployment that has it. Validation, the new
immutable version and its audit event (who, when) are ``definitions.deploy_definition``'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import Float, and_, case, cast, delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine import authz
from engine.bpmn.loader import SourceFile
from engine.bpmn.xmldiff import BpmnDiff, diff_bpmn
from engine.context import EngineContext
from engine.db.designer import DesignerDraft
from engine.db.history import ActivityHistory, ActivityOutcome
from engine.db.models import DefinitionFile, ProcessDefinition, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import (
    ConflictError,
    DefinitionProblem,
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
    """One BPMN element on the heatmap, from ``activity_history``: how often it was entered in the period, how many
    are active now, how they ended, and the mean and 90th percentile of the completed ones' durations."""

    element_id: str
    title: str
    kind: str  # the BPMN element type: userTask, serviceTask, exclusiveGateway, ...
    count: int  # entered
    open: int  # active now
    completed: int
    cancelled: int
    failed: int
    avg_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Period:
    """Days in the bank's zone, both included; either end may be open."""

    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class ActivityStep:
    """One element the instance entered (its activity history): when, for how long, how it ended."""

    element_id: str
    kind: str
    started_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    seconds: float | None  # ended − started; None while active or when the start is not known


@dataclass(frozen=True)
class InstancePath:
    instance_id: str
    process_key: str
    version: int
    status: str
    current: tuple[str, ...]
    visited: dict[str, int]
    failed: tuple[str, ...]
    steps: tuple[ActivityStep, ...] = ()


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


def validate_from_modeler(ctx: EngineContext, *, xml: str, actor: Actor) -> list[DefinitionProblem]:
    """The modeler's problem list: every problem a deploy of this diagram would meet (forms and decisions it uses
    bundled as :func:`deploy_from_modeler` bundles them). Returns the warnings of a deployable diagram; raises
    InvalidDefinitionError (errors and warnings), PermissionDeniedError. Nothing is stored."""
    require_role(actor, "designer")
    content = xml.encode("utf-8")
    key, _ = _process_id_and_forms(content)
    with unit_of_work(ctx.sessions, write=False) as session:
        files = _bundle(session, key, content, [], None)
    return definitions.check_definition(ctx, files=files, actor=actor, process_key=key)


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

FLOW_NODES = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent", "intermediateCatchEvent",
    "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "inclusiveGateway", "parallelGateway",
    "eventBasedGateway", "complexGateway",
})


def _seconds(db_name: str, started: Any, ended: Any) -> Any:
    if db_name == "sqlite":
        return (func.julianday(ended) - func.julianday(started)) * 86400.0
    return func.extract("epoch", ended - started)


def _elements(xml: str) -> list[tuple[str, str, str]]:
    """(id, BPMN type, name) of every flow node of a diagram, in document order."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError:
        return []
    found = []
    for node in root.iter(f"{{{BPMN}}}*"):
        kind = etree.QName(node).localname
        if kind in FLOW_NODES and node.get("id"):
            found.append((str(node.get("id")), kind, str(node.get("name") or node.get("id"))))
    return found


def _period(period: Period, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    """An activity belongs to the period in which it was entered (one recorded before its start was known: left)."""
    entered = func.coalesce(ActivityHistory.started_at, ActivityHistory.ended_at)
    where = []
    if period.start is not None:
        where.append(entered >= datetime.combine(period.start, time(), zone).astimezone(UTC))
    if period.end is not None:
        where.append(entered < datetime.combine(period.end + timedelta(days=1), time(), zone).astimezone(UTC))
    return where


def heatmap(ctx: EngineContext, key: str, version: int | None, *, actor: Actor, all_versions: bool = False,
            period: Period | None = None) -> list[ActivityStat]:
    """Per BPMN element of a version (every version when ``all_versions``), from ``activity_history``: entered,
    active now, completed, cancelled and failed, and the mean and 90th-percentile (nearest rank) duration of the
    completed ones, in seconds. ``period``: days in the bank's zone. Every flow node of the version's diagram is
    listed, those never entered with zeros after the others; the others in the order they were first entered.

    One grouped query over the rows of the process (index on process key, version, element).
    Raises DefinitionNotFoundError, PermissionDeniedError.
    """
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        row = definitions.find_definition(session, key, version)
        xml = next((f.content for f in row.files if f.kind == "bpmn"), "")
        history = ActivityHistory
        where = [history.process_key == key, *_period(period or Period(), ctx.settings.zone)]
        if not all_versions:
            where.append(history.definition_id == row.id)
        completed = history.outcome == ActivityOutcome.COMPLETED
        seconds = cast(_seconds(session.get_bind().dialect.name, history.started_at, history.ended_at), Float)
        duration = case((and_(completed, history.started_at.is_not(None)), seconds))
        ranked = select(
            history.element_id, history.element_type, history.ended_at, history.outcome, duration.label("seconds"),
            func.coalesce(history.started_at, history.ended_at).label("entered"),
            func.row_number().over(partition_by=history.element_id,
                                   order_by=(case((duration.is_(None), 1), else_=0), duration)).label("rank"),
            func.count(duration).over(partition_by=history.element_id).label("timed"),
        ).where(*where).subquery()
        outcome = ranked.c.outcome
        rows = session.execute(
            select(ranked.c.element_id, func.max(ranked.c.element_type), func.count(),
                   func.sum(case((ranked.c.ended_at.is_(None), 1), else_=0)),
                   func.sum(case((outcome == ActivityOutcome.COMPLETED, 1), else_=0)),
                   func.sum(case((outcome == ActivityOutcome.CANCELLED, 1), else_=0)),
                   func.sum(case((outcome == ActivityOutcome.ERROR, 1), else_=0)),
                   func.avg(ranked.c.seconds),
                   func.min(ranked.c.seconds).filter(ranked.c.rank * 10 >= ranked.c.timed * 9),
                   func.min(ranked.c.entered))
            .group_by(ranked.c.element_id)
        ).all()
    diagram = _elements(xml)
    names = {element: name for element, _, name in diagram}
    place = {element: n for n, (element, _, _) in enumerate(diagram)}
    rows = sorted(rows, key=lambda r: (r[-1], place.get(r[0], len(place)), r[0]))
    stats = [ActivityStat(str(element), names.get(element, element), str(kind), int(count), int(active or 0),
                          int(done or 0), int(cancelled or 0), int(failed or 0), _round(avg), _round(p90))
             for element, kind, count, active, done, cancelled, failed, avg, p90, _ in rows]
    seen = {s.element_id for s in stats}
    return stats + [ActivityStat(element, name, kind, 0, 0, 0, 0, 0, None, None)
                    for element, kind, name in diagram if element not in seen]


def _round(seconds: Any) -> float | None:
    return round(float(seconds), 1) if seconds is not None else None


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
        history = session.execute(
            select(ActivityHistory.element_id, ActivityHistory.element_type, ActivityHistory.started_at,
                   ActivityHistory.ended_at, ActivityHistory.outcome)
            .where(ActivityHistory.instance_id == row.id)).all()
        steps = sorted((ActivityStep(element, kind, began, ended, outcome,
                                     (ended - began).total_seconds() if began and ended else None)
                        for element, kind, began, ended, outcome in history),
                       key=lambda s: (s.started_at or s.ended_at or row.started_at, s.ended_at is None,
                                      s.ended_at or row.started_at))
        return InstancePath(str(row.id), row.process_key, version, row.status, path.current, path.visited, path.failed,
                            tuple(steps))
