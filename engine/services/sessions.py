"""Server-side sessions for the web: staff sign-ins and portal (customer) sign-ins.

The cookie holds only a random id; this module is the one place that says whether it still opens anything. A
session ends at logout, after ``settings.sessions.idle_minutes`` without a request, at the latest
``settings.sessions.absolute_hours`` after sign-in (a portal session after ``settings.portal.session_minutes``), and
when its user is locked or deactivated. Rows live in the database, so every worker and node sees the same answer.

Expired rows are deleted when they are read and at every sign-in (:func:`purge_expired`, also a CLI command), so
nothing depends on the scheduler running. ``last_seen_at`` is written at most once a minute, so a busy session
costs one read per request, not a write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.auth_state import WebSession
from engine.db.session import unit_of_work
from engine.services import throttle

STAFF, CUSTOMER = "staff", "customer"
TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _stream(kind: str, subject: str) -> str:
    return f"user:{subject}" if kind == STAFF else f"customer:{subject}"


def _idle(ctx: EngineContext) -> timedelta:
    return timedelta(minutes=ctx.settings.sessions.idle_minutes)


def _lifetime(ctx: EngineContext, kind: str) -> timedelta:
    if kind == CUSTOMER:
        return timedelta(minutes=ctx.settings.portal.session_minutes)
    return timedelta(hours=ctx.settings.sessions.absolute_hours)


def start(ctx: EngineContext, kind: str, subject: str) -> str:
    """Open a session for ``subject`` and return its id for the cookie (shown nowhere else). Audited."""
    token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        _purge(session, ctx, now)
        session.add(WebSession(token_hash=_hash(token), kind=kind, subject=subject, created_at=now, last_seen_at=now,
                               expires_at=now + _lifetime(ctx, kind)))
        audit.append(session, stream=_stream(kind, subject), actor=subject if kind == STAFF else f"customer:{subject}",
                     action="login.succeeded", subject_type="user" if kind == STAFF else "customer",
                     subject_id=subject, at=now, after={"session": kind})
    return token


def resolve(ctx: EngineContext, token: str | None, kind: str) -> str | None:
    """The subject of a live session with this id, or None (unknown, ended, idle too long, too old)."""
    if not token:
        return None
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.scalars(select(WebSession).where(WebSession.token_hash == _hash(token))).first()
        if row is None or row.kind != kind:
            return None
        subject, seen, expires, row_id = row.subject, row.last_seen_at, row.expires_at, row.id
    if now >= expires or now - seen > _idle(ctx):
        with unit_of_work(ctx.sessions) as session:
            session.execute(delete(WebSession).where(WebSession.id == row_id))
        return None
    if now - seen >= TOUCH_EVERY:
        with unit_of_work(ctx.sessions) as session:
            session.execute(update(WebSession).where(WebSession.id == row_id, WebSession.last_seen_at < now)
                            .values(last_seen_at=now))
    return subject


def end(ctx: EngineContext, token: str | None, kind: str) -> bool:
    """Log out: the session is gone for every copy of its cookie. Audited. False when there was none."""
    if not token:
        return False
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.scalars(select(WebSession).where(WebSession.token_hash == _hash(token),
                                                       WebSession.kind == kind)).first()
        if row is None:
            return False
        session.delete(row)
        audit.append(session, stream=_stream(kind, row.subject),
                     actor=row.subject if kind == STAFF else f"customer:{row.subject}", action="logout",
                     subject_type="user" if kind == STAFF else "customer", subject_id=row.subject, at=now)
    return True


def end_all(session: Session, kind: str, subject: str) -> int:
    """Every session of ``subject`` ends, inside the caller's transaction (a lock, a deactivation)."""
    result = session.execute(delete(WebSession).where(WebSession.kind == kind, WebSession.subject == subject))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_expired(ctx: EngineContext) -> int:
    """Delete every expired or idle session (returns how many) and day-old wrong-password counts. Runs at every
    sign-in and from the CLI (``careflow sessions purge``)."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        throttle.purge(session, now)
        return _purge(session, ctx, now)


def _purge(session: Session, ctx: EngineContext, now: datetime) -> int:
    result = session.execute(delete(WebSession).where(or_(WebSession.expires_at <= now,
                                                          WebSession.last_seen_at < now - _idle(ctx))))
    return int(getattr(result, "rowcount", 0) or 0)
