"""Saved inbox views: a person's own named filters, and team views a supervisor shares with one of their groups.

A view stores only the inbox's own parameters (which list, filters, sort, page size), never results: opening it
lists what the viewer may see now. Only supervisors share, and only with a group they belong to (administrators
with any); only the owner changes or deletes a view. Saving, sharing and deleting are audited on ``inbox_view:<id>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from engine import audit
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.db.worklist import InboxView
from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.services.authz import require_any_role, require_role
from engine.views import Actor

QUERY_KEYS = frozenset({"view", "process", "customer", "q", "overdue", "priority", "due", "follow_up", "sort", "size"})
MAX_VIEWS = 50  # per owner


class SavedViewNotFoundError(NotFoundError):
    code = "view_not_found"


@dataclass(frozen=True)
class SavedView:
    id: int
    owner: str
    name: str
    shared_group: str | None
    query: dict[str, str]

    def mine(self, actor: Actor) -> bool:
        return self.owner == actor.username


def _view(row: InboxView) -> SavedView:
    return SavedView(row.id, row.owner, row.name, row.shared_group, dict(row.query))


def _clean(name: str, query: dict[str, Any]) -> tuple[str, dict[str, str]]:
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise InvalidInputError("a view needs a name of 1 to 80 characters")
    unknown = set(query) - QUERY_KEYS
    if unknown:
        raise InvalidInputError(f"unknown view parameters: {', '.join(sorted(unknown))}")
    cleaned = {k: str(v).strip()[:200] for k, v in query.items() if v not in (None, "")}
    return name, cleaned


def _check_share(actor: Actor, group: str | None) -> None:
    if group is None:
        return
    require_role(actor, "supervisor")
    if group not in actor.groups and not actor.has_role("admin"):
        raise PermissionDeniedError("a team view is shared with one of your own groups")


def list_views(ctx: EngineContext, *, actor: Actor) -> list[SavedView]:
    """The actor's own views, then the views shared with their groups, by name."""
    require_any_role(actor)
    mine = InboxView.owner == actor.username
    shared = InboxView.shared_group.in_(sorted(actor.groups)) if actor.groups else None
    with unit_of_work(ctx.sessions, write=False) as session:
        found = session.scalars(select(InboxView).where(or_(mine, shared) if shared is not None else mine)
                                .order_by(InboxView.name, InboxView.id)).all()
        views = [_view(r) for r in found]
    return sorted(views, key=lambda v: (not v.mine(actor), v.name))


def get_view(ctx: EngineContext, view_id: int, *, actor: Actor) -> SavedView:
    """A view the actor owns or that is shared with one of their groups. Raises SavedViewNotFoundError."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(InboxView, view_id)
        if row is None or not (row.owner == actor.username or row.shared_group in actor.groups):
            raise SavedViewNotFoundError(f"no view {view_id}")
        return _view(row)


def save_view(ctx: EngineContext, *, actor: Actor, name: str, query: dict[str, Any],
              shared_group: str | None = None) -> SavedView:
    """Save the inbox's current parameters under ``name`` (replacing the actor's view of that name), shared with
    ``shared_group`` when given (supervisors, their own groups). Raises InvalidInputError, PermissionDeniedError."""
    require_any_role(actor)
    name, cleaned = _clean(name, query)
    group = (shared_group or "").strip() or None
    _check_share(actor, group)
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            row = session.scalar(select(InboxView).where(InboxView.owner == actor.username, InboxView.name == name))
            before = None
            if row is None:
                count = len(session.scalars(select(InboxView.id).where(InboxView.owner == actor.username)).all())
                if count >= MAX_VIEWS:
                    raise InvalidInputError(f"at most {MAX_VIEWS} saved views each")
                row = InboxView(owner=actor.username, name=name, created_at=now)
                session.add(row)
            else:
                before = {"query": row.query, "shared_group": row.shared_group}
            row.query, row.shared_group, row.updated_at = cleaned, group, now
            session.flush()
            audit.append(session, stream=f"inbox_view:{row.id}", actor=actor.username,
                         action="inbox_view.shared" if group else "inbox_view.saved", subject_type="inbox_view",
                         subject_id=str(row.id), at=now, before=before,
                         after={"name": name, "query": cleaned, "shared_group": group})
            return _view(row)
    except IntegrityError as exc:  # the same name saved twice at once
        raise ConflictError("a view of that name was just saved; try again") from exc


def delete_view(ctx: EngineContext, view_id: int, *, actor: Actor) -> None:
    """Delete one of the actor's own views (a shared one stops being shared). Raises SavedViewNotFoundError,
    PermissionDeniedError (someone else's view)."""
    require_any_role(actor)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(InboxView, view_id)
        if row is None or not (row.owner == actor.username or row.shared_group in actor.groups):
            raise SavedViewNotFoundError(f"no view {view_id}")
        if row.owner != actor.username:
            raise PermissionDeniedError("only its owner deletes a view")
        audit.append(session, stream=f"inbox_view:{row.id}", actor=actor.username, action="inbox_view.deleted",
                     subject_type="inbox_view", subject_id=str(row.id), at=now,
                     before={"name": row.name, "query": row.query, "shared_group": row.shared_group})
        session.delete(row)
