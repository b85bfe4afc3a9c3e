"""Permissions, not role names: every service asks :func:`require` (or :func:`allows`) before it acts.

The permission model (resource kinds, permissions, built-in grants) is in :mod:`engine.authz.catalogue`; the
grants in memory in :mod:`engine.authz.grants`; changing them, with a second administrator's approval, in
``engine.services.grants``. The scheduler and the engine's own calls act as ``SYSTEM``, which needs no grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.authz.catalogue import ANY, BRANCH_PREFIX, PORTFOLIO
from engine.errors import PermissionDeniedError
from engine.views import SYSTEM, Actor

if TYPE_CHECKING:
    from engine.context import EngineContext


def allows(ctx: EngineContext, actor: Actor, permission: str, kind: str, resource_id: str) -> bool:
    """Whether ``actor`` holds ``permission`` on ``kind``/``resource_id`` (a grant to it, a role or a group of it)."""
    if actor is SYSTEM:
        return True
    return ctx.grants.allows(actor, permission, kind, resource_id)


def require(ctx: EngineContext, actor: Actor, permission: str, kind: str, resource_id: str) -> None:
    """Raise PermissionDeniedError unless :func:`allows`."""
    if not allows(ctx, actor, permission, kind, resource_id):
        raise PermissionDeniedError(
            f"{actor.username} may not {permission} {kind} {resource_id}",
            details={"permission": permission, "resource": f"{kind}:{resource_id}"},
        )


class CustomerScope:
    """Which customers an actor may read (or reveal): all, some branches, the ones they manage, or none."""

    def __init__(self, ids: frozenset[str], username: str) -> None:
        self.all = ANY in ids
        self.branches = frozenset(i[len(BRANCH_PREFIX):] for i in ids if i.startswith(BRANCH_PREFIX))
        self.manager = username if PORTFOLIO in ids else None

    @property
    def none(self) -> bool:
        return not self.all and not self.branches and self.manager is None

    def covers(self, branch: str | None, manager: str | None) -> bool:
        return self.all or (branch is not None and branch in self.branches) or (
            self.manager is not None and manager == self.manager)

    def purpose(self, branch: str | None, manager: str | None) -> str | None:
        """Why this actor may read that customer ("portfolio", "branch", "all"), or None."""
        if self.manager is not None and manager == self.manager:
            return "portfolio"
        if branch is not None and branch in self.branches:
            return "branch"
        return "all" if self.all else None


def customer_scope(ctx: EngineContext, actor: Actor, permission: str = "read") -> CustomerScope:
    if actor is SYSTEM:
        return CustomerScope(frozenset({ANY}), actor.username)
    return CustomerScope(ctx.grants.resources(actor, permission, "customer"), actor.username)
