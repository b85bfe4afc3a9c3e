"""What a deploy from the modeler would do, shown before it happens, and the confirmation that it was seen.

The preview names the live version and what changes against it (``engine.bpmn.xmldiff``), how many instances are
live (on the live version and on all), a migration dry run of those instances onto the draft (which could move and
why the others could not), and whether a second person must approve the new version (maker-checker,
``engine.services.approvals``). It carries a confirmation token bound to what was previewed: the bundle's hash,
the live version and the draft's saved revision. A deploy that sends the token back is refused when any of them
changed since (someone deployed, saved the draft or the diagram was edited): the designer looks again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import authz
from engine.bpmn.loader import SourceFile, parse_bundle
from engine.bpmn.xmldiff import BpmnDiff, diff_bpmn
from engine.casefile import registry as case_file_providers
from engine.context import EngineContext
from engine.db.designer import DesignerDraft
from engine.db.session import unit_of_work
from engine.errors import ConflictError
from engine.services import approvals, definitions, designer, migration, versions
from engine.services.authz import require_role
from engine.views import Actor, DeployResult


class StaleConfirmationError(ConflictError):
    """The deploy confirmation was given for another state (the diagram, the draft or the live version changed)."""

    code = "confirmation_stale"


@dataclass(frozen=True)
class DeployPreview:
    process_key: str
    live_version: int | None  # None: the first version
    next_version: int
    identical: bool  # the same bytes as the live version: deploying changes nothing
    diff: BpmnDiff | None
    live_instances: int  # running or failed, all versions
    live_on_live_version: int
    migration: tuple[migration.InstanceMigration, ...]  # dry run of the live instances onto the draft
    migratable: int
    needs_approval: bool  # a second person approves before the version goes live
    draft_revision: int | None
    confirmation: str


def _token(key: str, sha: str, live_version: int | None, revision: int | None) -> str:
    return hashlib.sha256(f"{key}\0{sha}\0{live_version}\0{revision}".encode()).hexdigest()[:32]


def _files(ctx: EngineContext, xml: str) -> tuple[str | None, list[SourceFile]]:
    content = xml.encode("utf-8")
    key, _ = designer._process_id_and_forms(content)
    with unit_of_work(ctx.sessions, write=False) as session:
        files = designer._bundle(session, key, content, [])
    return key, definitions._normalized(files)


def _revision(session: Session, key: str) -> int | None:
    return session.scalar(select(DesignerDraft.revision).where(DesignerDraft.kind == "process",
                                                               DesignerDraft.name == key))


def preview_deploy(ctx: EngineContext, *, xml: str, actor: Actor) -> DeployPreview:
    """Raises InvalidDefinitionError (the draft would not deploy), PermissionDeniedError."""
    require_role(actor, "designer")
    key, files = _files(ctx, xml)
    bundle = parse_bundle(files, process_key=key, handlers=ctx.handler_policy,
                          context_providers=case_file_providers.names())
    key = bundle.process_key
    authz.require(ctx, actor, "deploy", "process", key)
    sha = definitions.bundle_hash(files)
    with unit_of_work(ctx.sessions, write=False) as session:
        latest = definitions._latest(session, key)
        revision = _revision(session, key)
        live = definitions._live_instances(session, key) if latest is not None else 0
        on_latest = versions.live_instances(session, latest.id) if latest is not None else 0
        old_xml = next((f.content for f in latest.files if f.kind == "bpmn"), None) if latest is not None else None
        live_version = latest.version if latest is not None else None
        identical = latest is not None and latest.sha256 == sha
        next_version = (live_version or 0) + (0 if identical else 1)
        moves = migration.plan_onto_bundle(ctx, session, key, bundle, next_version) if live and not identical else ()
    bpmn_xml = next(f.content.decode("utf-8") for f in files if f.kind == "bpmn")
    diff = diff_bpmn(old_xml, bpmn_xml) if old_xml is not None else None
    return DeployPreview(
        key, live_version, next_version, identical, diff, live, on_latest, moves, sum(1 for m in moves if m.compatible),
        bool(live and not identical and approvals.needed(ctx, actor)), revision,
        _token(key, sha, live_version, revision))


def deploy_confirmed(ctx: EngineContext, *, xml: str, actor: Actor, confirmation: str) -> DeployResult | None:
    """Deploy as ``designer.deploy_from_modeler`` does, if ``confirmation`` is the token of the current state.

    Raises StaleConfirmationError, and what deploy_from_modeler raises."""
    require_role(actor, "designer")
    key, files = _files(ctx, xml)
    if key is None:
        return designer.deploy_from_modeler(ctx, xml=xml, actor=actor)  # no single process: its own problems
    with unit_of_work(ctx.sessions, write=False) as session:
        latest = definitions._latest(session, key)
        current = _token(key, definitions.bundle_hash(files), latest.version if latest is not None else None,
                         _revision(session, key))
    if current != confirmation:
        raise StaleConfirmationError("the diagram, its draft or the live version changed since you confirmed: "
                                     "look at the summary again", details={"reason": "stale_confirmation"})
    return designer.deploy_from_modeler(ctx, xml=xml, actor=actor)
