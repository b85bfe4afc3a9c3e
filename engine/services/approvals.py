"""Maker-checker: changes that one person asks for and a second, different person approves.

Used for every change a bank lets nobody make alone: a new version of a process that has live instances, a
migration of live instances, a grant, a privileged role, an administrator's own API token. The service that
asks (``request_approval``) stores what would happen and a summary for the checker; the checker approves or
rejects on the approvals page, the API or the CLI. Approving carries the change out with the rights of the
kind's executor (registered with :func:`register` by the service that owns the change), records the result,
and audits request, decision and outcome on the stream ``approval:<id>``.

Carrying out is idempotent in every kind (deploying the same bytes, migrating instances already moved,
adding an existing grant change nothing), so an approval interrupted by a crash can simply be approved again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from engine import audit, authz
from engine.context import EngineContext
from engine.db.authz import ApprovalRequest, ApprovalStatus
from engine.db.session import unit_of_work
from engine.errors import EngineError, InvalidInputError, InvalidTransitionError, NotFoundError, PermissionDeniedError
from engine.views import SYSTEM, Actor

STALE_EXECUTION = timedelta(minutes=10)  # an approval whose execution never finished may be approved again
EXECUTING = "executing"


class ApprovalNotFoundError(NotFoundError):
    code = "approval_not_found"


@dataclass(frozen=True)
class ApprovalView:
    id: int
    kind: str
    subject: str
    summary: str
    payload: dict[str, Any]
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class Kind:
    """How a kind of change is checked and carried out."""

    # (permission, resource kind, resource id) the checker must hold, from the request
    checker: Callable[[ApprovalView], tuple[str, str, str]]
    # carries the approved change out as ``approver``; returns what to record as its result
    execute: Callable[[EngineContext, ApprovalView, Actor], dict[str, Any]]


_KINDS: dict[str, Kind] = {}
# The services that own a kind of change register it when imported; importing them here (late: they import this
# module) makes every kind known wherever approvals are listed or decided.
_OWNERS = ("engine.services.grants", "engine.services.identity", "engine.services.definitions",
           "engine.services.migration")


def _kinds() -> dict[str, Kind]:
    if len(_KINDS) < len(_OWNERS):
        import importlib

        for name in _OWNERS:
            importlib.import_module(name)
    return _KINDS


def register(kind: str, *, checker: Callable[[ApprovalView], tuple[str, str, str]],
             execute: Callable[[EngineContext, ApprovalView, Actor], dict[str, Any]]) -> None:
    _KINDS[kind] = Kind(checker, execute)


def _view(row: ApprovalRequest) -> ApprovalView:
    return ApprovalView(row.id, row.kind, row.subject, row.summary, dict(row.payload), row.status, row.requested_by,
                        row.requested_at, row.decided_by, row.decided_at, row.reason, row.result)


def needed(ctx: EngineContext, actor: Actor) -> bool:
    """Whether a change by ``actor`` waits for a second person (the engine itself, ``SYSTEM``, never does)."""
    return ctx.settings.security.four_eyes_changes and actor is not SYSTEM


def request_approval(ctx: EngineContext, *, kind: str, subject: str, summary: str, payload: dict[str, Any],
                     actor: Actor) -> ApprovalView:
    """Store a change for a second person to approve. The caller has checked that ``actor`` may ask for it."""
    if kind not in _kinds():
        raise InvalidInputError(f"no approval kind {kind!r}")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = ApprovalRequest(kind=kind, subject=subject, summary=summary, payload=payload,
                              status=ApprovalStatus.PENDING, requested_by=actor.username, requested_at=now)
        session.add(row)
        session.flush()
        audit.append(session, stream=f"approval:{row.id}", actor=actor.username, action="approval.requested",
                     subject_type="approval", subject_id=str(row.id), at=now,
                     after={"kind": kind, "subject": subject, "summary": summary})
        return _view(row)


def list_approvals(ctx: EngineContext, *, actor: Actor, status: str | None = ApprovalStatus.PENDING,
                   limit: int = 100) -> list[ApprovalView]:
    """Requests the actor may decide or asked for, newest first."""
    with unit_of_work(ctx.sessions, write=False) as session:
        stmt = select(ApprovalRequest).order_by(ApprovalRequest.requested_at.desc(), ApprovalRequest.id.desc())
        if status is not None:
            stmt = stmt.where(ApprovalRequest.status == status)
        rows = [_view(r) for r in session.scalars(stmt.limit(500))]
    return [v for v in rows if v.requested_by == actor.username or may_decide(ctx, v, actor)][:limit]


def may_decide(ctx: EngineContext, view: ApprovalView, actor: Actor) -> bool:
    """A second person holding the kind's checker permission (never the one who asked)."""
    kind = _kinds().get(view.kind)
    return kind is not None and view.requested_by != actor.username and authz.allows(ctx, actor, *kind.checker(view))


def get_approval(ctx: EngineContext, approval_id: int, *, actor: Actor) -> ApprovalView:
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(ApprovalRequest, approval_id)
        view = _view(row) if row is not None else None
    if view is None or not (view.requested_by == actor.username or may_decide(ctx, view, actor)):
        raise ApprovalNotFoundError(f"no approval {approval_id}")
    return view


def approve(ctx: EngineContext, approval_id: int, *, actor: Actor) -> ApprovalView:
    """Approve and carry out a pending request. Raises ApprovalNotFoundError (also when the actor may not decide
    it), PermissionDeniedError (the one who asked), InvalidTransitionError (already decided). A failure while carrying it out
    is recorded (status ``failed`` with the reason) and raised."""
    view = _claim(ctx, approval_id, actor)
    try:
        result = _kinds()[view.kind].execute(ctx, view, actor)
    except EngineError as exc:
        _finish(ctx, view, actor, ApprovalStatus.FAILED, {"error": exc.code, "message": exc.message})
        raise
    return _finish(ctx, view, actor, ApprovalStatus.APPROVED, result)


def reject(ctx: EngineContext, approval_id: int, *, actor: Actor, reason: str) -> ApprovalView:
    """Refuse a pending request, with the reason the asker will read."""
    if not reason or not reason.strip() or len(reason) > 2000:
        raise InvalidInputError("give the reason for the rejection (at most 2000 characters)", details={"field": "reason"})
    view = _claim(ctx, approval_id, actor, rejecting=True)
    return _finish(ctx, view, actor, ApprovalStatus.REJECTED, None, reason=reason.strip())


def _claim(ctx: EngineContext, approval_id: int, actor: Actor, *, rejecting: bool = False) -> ApprovalView:
    """Take the decision on the request (one checker wins a race); it is then ``executing`` until finished."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(ApprovalRequest, approval_id)
        if row is None:
            raise ApprovalNotFoundError(f"no approval {approval_id}")
        view = _view(row)
        if view.requested_by == actor.username:
            raise PermissionDeniedError("a change needs a second person: you cannot decide your own request",
                                        details={"reason": "own_request"})
        if not may_decide(ctx, view, actor):
            raise ApprovalNotFoundError(f"no approval {approval_id}")  # not theirs to see, as for get_approval
        stale = row.status == EXECUTING and row.decided_at is not None and now - row.decided_at > STALE_EXECUTION
        if row.status != ApprovalStatus.PENDING and not (stale and not rejecting):
            raise InvalidTransitionError(f"approval {approval_id} is {row.status}", subject=str(approval_id),
                                         state=row.status, action="reject" if rejecting else "approve")
        claimed = session.execute(update(ApprovalRequest).where(
            ApprovalRequest.id == approval_id, ApprovalRequest.status == row.status).values(
            status=EXECUTING, decided_by=actor.username, decided_at=now))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise InvalidTransitionError(f"approval {approval_id} was decided by someone else", subject=str(approval_id),
                                         state="decided", action="approve")
    return view


def _finish(ctx: EngineContext, view: ApprovalView, actor: Actor, status: str, result: dict[str, Any] | None, *,
            reason: str | None = None) -> ApprovalView:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get_one(ApprovalRequest, view.id)
        row.status, row.result, row.reason = status, result, reason
        row.decided_by, row.decided_at = actor.username, now
        audit.append(session, stream=f"approval:{view.id}", actor=actor.username, action=f"approval.{status}",
                     subject_type="approval", subject_id=str(view.id), at=now,
                     after={"kind": view.kind, "subject": view.subject, "requested_by": view.requested_by,
                            "reason": reason, "result": result})
        return _view(row)
