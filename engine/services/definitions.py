"""Deploying and reading process definitions (immutable, hashed, versioned)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from engine import audit, authz
from engine.bpmn.loader import ParsedBundle, SourceFile, parse_bundle
from engine.casefile import registry as case_file_providers
from engine.context import EngineContext
from engine.db.models import DefinitionFile, ProcessDefinition, ProcessInstance
from engine.db.prepared import Prepared
from engine.db.session import unit_of_work
from engine.errors import (
    ConcurrentModificationError,
    DefinitionNotFoundError,
    DefinitionProblem,
    DefinitionSuspendedError,
    InvalidDefinitionError,
    NotFoundError,
)
from engine.services import approvals, deploy_checks
from engine.services.authz import require_role
from engine.views import Actor, DefinitionView, DeployResult


def bundle_hash(files: Iterable[SourceFile]) -> str:
    digest = hashlib.sha256()
    for source in sorted(files, key=lambda f: f.filename):
        digest.update(source.filename.encode("utf-8") + b"\0" + hashlib.sha256(source.content).digest())
    return digest.hexdigest()


def deploy_definition(
    ctx: EngineContext,
    *,
    files: list[SourceFile],
    actor: Actor,
    process_key: str | None = None,
    validate_only: bool = False,
) -> DeployResult | None:
    """Validate a bundle of BPMN/DMN/form files and store it as the next version of its process.

    Identical bytes to the latest version change nothing (``created=False``). A new version of a process that has
    live instances waits for a second person's approval (``approval_id`` set; engine.services.approvals), unless
    the engine itself deploys it. With ``validate_only`` nothing is stored and ``None`` is returned when the bundle
    is valid.
    Raises InvalidDefinitionError (with file/line/element problems, nothing stored),
    PermissionDeniedError, ConcurrentModificationError (a parallel deploy of the same key won).
    """
    require_role(actor, "designer")
    files = _normalized(files)
    bundle = parse_bundle(files, process_key=process_key, handlers=ctx.handler_policy,
                          context_providers=case_file_providers.names(), directory=deploy_checks.directory(ctx))
    authz.require(ctx, actor, "deploy", "process", bundle.process_key)
    if validate_only:
        return None
    sha = bundle_hash(files)
    with unit_of_work(ctx.sessions, write=False) as session:
        latest = _latest(session, bundle.process_key)
        latest_view = _view(latest) if latest is not None else None
        live = _live_instances(session, bundle.process_key) if latest is not None else 0
    if latest_view is not None and latest_view.sha256 == sha:
        return DeployResult(latest_view, created=False)
    if latest_view is not None and live and approvals.needed(ctx, actor):
        approval = approvals.request_approval(
            ctx, kind="deploy", subject=bundle.process_key, actor=actor, payload={
                "process_key": bundle.process_key, "sha256": sha, "from_version": latest_view.version, "live": live,
                "files": [{"filename": f.filename, "content": f.content.decode("utf-8")} for f in files]},
            summary=f"{bundle.process_key}: a new version after v{latest_view.version}, which {live} live instances "
                    f"run; files {', '.join(f.filename for f in files)}")
        return DeployResult(latest_view, created=False, approval_id=approval.id)
    return _store(ctx, files, bundle, sha, deployed_by=actor.username, approved_by=None)


def check_definition(ctx: EngineContext, *, files: list[SourceFile], actor: Actor,
                     process_key: str | None = None) -> list[DefinitionProblem]:
    """What a deploy of these files would say, without storing anything: its warnings (an empty list: clean).
    Raises InvalidDefinitionError (errors and warnings, each located), PermissionDeniedError."""
    require_role(actor, "designer")
    files = _normalized(files)
    bundle = parse_bundle(files, process_key=process_key, handlers=ctx.handler_policy,
                          context_providers=case_file_providers.names(), directory=deploy_checks.directory(ctx))
    authz.require(ctx, actor, "deploy", "process", bundle.process_key)
    return list(bundle.warnings)


def _live_instances(session: Session, key: str) -> int:
    return int(session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_key == key, ProcessInstance.status.in_(("running", "error")))) or 0)


def _store(ctx: EngineContext, files: list[SourceFile], bundle: ParsedBundle, sha: str, *, deployed_by: str,
           approved_by: str | None) -> DeployResult:
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            latest = _latest(session, bundle.process_key)
            if latest is not None and latest.sha256 == sha:
                return DeployResult(_view(latest), created=False)
            definition = ProcessDefinition(
                key=bundle.process_key, version=(latest.version + 1) if latest else 1, name=bundle.name,
                sha256=sha, deployed_by=deployed_by, deployed_at=now,
            )
            definition.files = [
                DefinitionFile(filename=f.filename, kind=f.kind or "", sha256=hashlib.sha256(f.content).hexdigest(),
                               content=f.content.decode("utf-8"))
                for f in files
            ]
            session.add(definition)
            session.flush()
            audit.append(
                session, stream=f"definition:{definition.key}", actor=approved_by or deployed_by,
                action="definition.deployed", subject_type="definition",
                subject_id=f"{definition.key}:{definition.version}", at=now,
                after={"version": definition.version, "sha256": sha, "files": [f.filename for f in files],
                       "requested_by": deployed_by, "approved_by": approved_by},
            )
            view = _view(definition)
    except IntegrityError as exc:
        raise ConcurrentModificationError(f"{bundle.process_key} was deployed concurrently; retry") from exc
    ctx.specs.put(view.id, bundle)
    return DeployResult(view, created=True)


def _deploy_approved(ctx: EngineContext, view: approvals.ApprovalView, approver: Actor) -> dict[str, Any]:
    files = [SourceFile(f["filename"], f["content"].encode("utf-8")) for f in view.payload["files"]]
    bundle = parse_bundle(files, process_key=view.payload["process_key"], handlers=ctx.handler_policy,
                          context_providers=case_file_providers.names(), directory=deploy_checks.directory(ctx))
    result = _store(ctx, files, bundle, bundle_hash(files), deployed_by=view.requested_by, approved_by=approver.username)
    return {"version": result.definition.version, "created": result.created}


approvals.register("deploy", checker=lambda view: ("approve", "process", view.subject), execute=_deploy_approved)


def _normalized(files: list[SourceFile]) -> list[SourceFile]:
    problems = []
    names = set()
    for source in files:
        base = source.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if not base or base in names:
            problems.append(DefinitionProblem(source.filename, None, None, "duplicate or empty file name"))
        names.add(base)
        try:
            source.content.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(DefinitionProblem(base, None, None, "file is not UTF-8 text"))
    if not files:
        problems.append(DefinitionProblem("", None, None, "no files to deploy"))
    if problems:
        raise InvalidDefinitionError(problems)
    return [SourceFile(s.filename.replace("\\", "/").rsplit("/", 1)[-1], s.content) for s in files]


_BY_KEY = select(ProcessDefinition.id, ProcessDefinition.version, ProcessDefinition.status).where(
    ProcessDefinition.key == bindparam("key"))
_GIVEN_VERSION = Prepared(cast("Select[Any]", _BY_KEY.where(ProcessDefinition.version == bindparam("version"))))
_LATEST_VERSION = Prepared(cast("Select[Any]", _BY_KEY.order_by(ProcessDefinition.version.desc()).limit(1)))


def latest_version(session: Session, key: str, version: int | None = None) -> tuple[int, int]:
    """(definition id, version) of the latest or given version; cheap, no files loaded."""
    row = _version_row(session, key, version)
    return int(row[0]), int(row[1])


def startable_version(session: Session, key: str, version: int | None = None) -> tuple[int, int]:
    """As :func:`latest_version`, for starting an instance: DefinitionSuspendedError when that version is suspended
    or retired (engine.services.versions), in the same single query."""
    row = _version_row(session, key, version)
    status = row[2] or "active"
    if status != "active":
        word = "suspended" if status == "suspended" else "retired"
        raise DefinitionSuspendedError(
            f"{key} v{row[1]} is {word}: it starts no new instances (a designer can resume it)",
            key=key, version=int(row[1]), status=str(status))
    return int(row[0]), int(row[1])


def _version_row(session: Session, key: str, version: int | None) -> Any:
    connection = session.connection()  # plain columns: no ORM loading step needed
    found = (_GIVEN_VERSION.rows(connection, {"key": key, "version": version}) if version
             else _LATEST_VERSION.rows(connection, {"key": key}))
    row = found[0] if found else None
    if row is None:
        suffix = f" version {version}" if version is not None else ""
        raise DefinitionNotFoundError(f"no deployed process {key!r}{suffix}")
    return row


def _latest(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalars(
        select(ProcessDefinition).where(ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc()).limit(1)
    ).first()


def _view(row: ProcessDefinition, instance_count: int | None = None) -> DefinitionView:
    return DefinitionView(
        id=row.id, key=row.key, version=row.version, name=row.name, sha256=row.sha256,
        deployed_by=row.deployed_by, deployed_at=row.deployed_at,
        files=tuple(f.filename for f in row.files), instance_count=instance_count, status=row.status or "active",
    )


def list_definitions(ctx: EngineContext) -> list[DefinitionView]:
    """The latest version of every deployed process, with its number of instances (all versions)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        newest = (
            select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
            .group_by(ProcessDefinition.key).subquery()
        )
        rows = session.scalars(
            select(ProcessDefinition)
            .options(selectinload(ProcessDefinition.files).load_only(DefinitionFile.filename))
            .join(newest, (ProcessDefinition.key == newest.c.key) & (ProcessDefinition.version == newest.c.version))
            .order_by(ProcessDefinition.key)
        ).all()
        counts = dict(
            session.execute(select(ProcessInstance.process_key, func.count()).group_by(ProcessInstance.process_key)).all()
        )
        return [_view(r, counts.get(r.key, 0)) for r in rows]


def get_definition(ctx: EngineContext, key: str, version: int | None = None) -> DefinitionView:
    """One version (the latest when ``version`` is None). Raises DefinitionNotFoundError."""
    with unit_of_work(ctx.sessions, write=False) as session:
        row = find_definition(session, key, version)
        count = session.scalar(select(func.count()).where(ProcessInstance.definition_id == row.id))
        return _view(row, count)


def find_definition(session: Session, key: str, version: int | None) -> ProcessDefinition:
    if version is None:
        row = _latest(session, key)
    else:
        row = session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
        ).first()
    if row is None:
        suffix = f" version {version}" if version is not None else ""
        raise DefinitionNotFoundError(f"no deployed process {key!r}{suffix}")
    return row


def get_definition_file(ctx: EngineContext, key: str, version: int, filename: str) -> str:
    """The stored text of one file of a version. Raises NotFoundError."""
    with unit_of_work(ctx.sessions, write=False) as session:
        row = find_definition(session, key, version)
        for source in row.files:
            if source.filename == filename:
                return source.content
    raise NotFoundError(f"{key} v{version} has no file {filename!r}")

