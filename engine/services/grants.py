"""Reading and changing grants (engine.authz): every addition needs a second administrator, every change is audited.

Adding a grant is a maker-checker change (``engine.services.approvals``, kind ``grant``): an administrator asks,
another approves, and only then does it count. Revoking one only takes rights away, so it takes effect at once.
``careflow grant add`` on the server's command line is the break-glass path for the operator (bootstrap,
emergencies): it writes the grant directly and audits it as coming from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.authz.catalogue import (
    ANY,
    BRANCH_PREFIX,
    DEFAULT_GRANTS,
    PERMISSIONS,
    PORTFOLIO,
    PRINCIPAL_KINDS,
    permission_names,
)
from engine.context import EngineContext
from engine.db.authz import Grant
from engine.db.models import User
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, NotFoundError
from engine.services import approvals
from engine.views import ROLES, Actor


@dataclass(frozen=True)
class GrantView:
    id: int
    principal: str  # "role:staff", "user:alice", "group:service_team", "process:complaint_handling"
    resource_kind: str
    resource_id: str
    permission: str
    granted_by: str
    approved_by: str | None
    granted_at: datetime


@dataclass(frozen=True)
class GrantSpec:
    principal_kind: str
    principal: str
    resource_kind: str
    resource_id: str
    permission: str

    @property
    def as_dict(self) -> dict[str, str]:
        return {"principal": f"{self.principal_kind}:{self.principal}", "resource_kind": self.resource_kind,
                "resource_id": self.resource_id, "permission": self.permission}


def parse(principal: str, resource_kind: str, resource_id: str, permission: str) -> GrantSpec:
    """A grant as typed by an administrator, checked against the catalogue. Raises InvalidInputError."""
    kind, _, name = (principal or "").partition(":")
    if kind not in PRINCIPAL_KINDS or not name or len(name) > 128:
        raise InvalidInputError("the principal must look like user:<name>, group:<name>, role:<role> or "
                                "process:<key>", details={"field": "principal"})
    if kind == "role" and name not in ROLES:
        raise InvalidInputError(f"roles are {', '.join(ROLES)}", details={"field": "principal"})
    if resource_kind not in PERMISSIONS:
        raise InvalidInputError(f"resource kinds are {', '.join(PERMISSIONS)}", details={"field": "resource_kind"})
    if permission not in permission_names(resource_kind):
        raise InvalidInputError(f"{resource_kind} permissions are {', '.join(permission_names(resource_kind))}",
                                details={"field": "permission"})
    resource_id = (resource_id or "").strip()
    if not resource_id or len(resource_id) > 256:
        raise InvalidInputError("name the resource, or * for all of its kind", details={"field": "resource_id"})
    if resource_kind == "customer" and not (resource_id in (ANY, PORTFOLIO) or (
            resource_id.startswith(BRANCH_PREFIX) and len(resource_id) > len(BRANCH_PREFIX))):
        raise InvalidInputError("customer resources are *, portfolio or branch:<code>", details={"field": "resource_id"})
    if (kind == "process") != (resource_kind == "handler"):
        raise InvalidInputError("a process key may only be granted the use of a service handler, and handlers only "
                                "to process keys", details={"field": "principal"})
    return GrantSpec(kind, name, resource_kind, resource_id, permission)


def _view(row: Grant) -> GrantView:
    return GrantView(row.id, f"{row.principal_kind}:{row.principal}", row.resource_kind, row.resource_id,
                     row.permission, row.granted_by, row.approved_by, row.granted_at)


def list_grants(ctx: EngineContext, *, actor: Actor) -> list[GrantView]:
    authz.require(ctx, actor, "grants", "system", "grants")
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(select(Grant).order_by(Grant.principal_kind, Grant.principal, Grant.resource_kind,
                                                      Grant.resource_id, Grant.permission))
        return [_view(r) for r in rows]


def request_grant(ctx: EngineContext, spec: GrantSpec, *, actor: Actor) -> approvals.ApprovalView:
    """Ask for a grant; it counts once a second administrator approves it. Raises PermissionDeniedError,
    InvalidInputError (an unknown user)."""
    authz.require(ctx, actor, "grants", "system", "grants")
    _check_principal(ctx, spec)
    who = f"{spec.principal_kind}:{spec.principal}"
    return approvals.request_approval(
        ctx, kind="grant", subject=who, payload=spec.as_dict, actor=actor,
        summary=f"{who} → {spec.permission} on {spec.resource_kind} {spec.resource_id}")


def _check_principal(ctx: EngineContext, spec: GrantSpec) -> None:
    if spec.principal_kind != "user":
        return
    with unit_of_work(ctx.sessions, write=False) as session:
        if session.scalar(select(User.id).where(User.username == spec.principal)) is None:
            raise InvalidInputError(f"no user {spec.principal}", details={"field": "principal"})


def add_grant(ctx: EngineContext, spec: GrantSpec, *, by: str, approved_by: str | None) -> bool:
    """Write a grant (idempotent: False if it existed). Only for an approved request or the command line."""
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            exists = session.scalar(select(Grant.id).where(
                Grant.principal_kind == spec.principal_kind, Grant.principal == spec.principal,
                Grant.resource_kind == spec.resource_kind, Grant.resource_id == spec.resource_id,
                Grant.permission == spec.permission))
            if exists is not None:
                return False
            session.add(Grant(principal_kind=spec.principal_kind, principal=spec.principal,
                              resource_kind=spec.resource_kind, resource_id=spec.resource_id,
                              permission=spec.permission, granted_by=by, approved_by=approved_by, granted_at=now))
            audit.append(session, stream="grants", actor=approved_by or by, action="grant.added",
                         subject_type="grant", subject_id=f"{spec.principal_kind}:{spec.principal}", at=now,
                         after={**spec.as_dict, "requested_by": by, "approved_by": approved_by})
    except IntegrityError:
        return False  # a concurrent approval added it first
    finally:
        ctx.grants.invalidate()
    return True


def revoke_grant(ctx: EngineContext, grant_id: int, *, actor: Actor | None, by: str | None = None) -> GrantView:
    """Remove a grant at once (taking rights away needs nobody else). ``actor`` None: the command line (``by``).
    Raises NotFoundError, PermissionDeniedError."""
    if actor is not None:
        authz.require(ctx, actor, "grants", "system", "grants")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(Grant, grant_id)
        if row is None:
            raise NotFoundError(f"no grant {grant_id}")
        view = _view(row)
        session.execute(delete(Grant).where(Grant.id == grant_id))
        audit.append(session, stream="grants", actor=actor.username if actor else (by or "cli"), action="grant.revoked",
                     subject_type="grant", subject_id=view.principal, at=now,
                     before={"principal": view.principal, "resource_kind": view.resource_kind,
                             "resource_id": view.resource_id, "permission": view.permission})
    ctx.grants.invalidate()
    return view


def seed_defaults(session: Session, at: datetime) -> int:
    """Write the built-in grants that are missing (a new database; tests start from these). Returns how many."""
    have = {(r.principal_kind, r.principal, r.resource_kind, r.resource_id, r.permission)
            for r in session.scalars(select(Grant))}
    added = 0
    for principal, kind, resource, permissions in DEFAULT_GRANTS:
        principal_kind, _, name = principal.partition(":")
        for permission in permissions:
            if (principal_kind, name, kind, resource, permission) not in have:
                session.add(Grant(principal_kind=principal_kind, principal=name, resource_kind=kind,
                                  resource_id=resource, permission=permission, granted_by="built-in",
                                  approved_by=None, granted_at=at))
                added += 1
    return added


def _execute(ctx: EngineContext, view: approvals.ApprovalView, approver: Actor) -> dict[str, Any]:
    payload = view.payload
    spec = parse(payload["principal"], payload["resource_kind"], payload["resource_id"], payload["permission"])
    added = add_grant(ctx, spec, by=view.requested_by, approved_by=approver.username)
    return {"added": added}


approvals.register("grant", checker=lambda view: ("grants", "system", "grants"), execute=_execute)
