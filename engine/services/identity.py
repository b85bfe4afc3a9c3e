"""Users, groups, roles and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are random 256-bit values
shown once; only their SHA-256 is stored, which is enough for secrets of that entropy
and keeps token checks cheap on every API call.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.models import ApiToken, Group, GroupMembership, HumanTask, HumanTaskStatus, User
from engine.db.plain import PlainRead
from engine.db.session import unit_of_work
from engine.errors import AuthenticationError, ConflictError, InvalidInputError, UserNotFoundError
from engine.services.authz import require_role
from engine.views import ROLES, Actor, UserView

_HASHER = PasswordHasher()  # argon2-cffi's RFC 9106 low-memory profile
_CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)


def _hasher(ctx: EngineContext) -> PasswordHasher:
    """Tests set ``settings.cheap_password_hashing``; verification works for hashes of either profile."""
    return _CHEAP if ctx.settings.cheap_password_hashing else _HASHER
TOKEN_PREFIX = "cf_"


def _actor(user: User) -> Actor:
    return _actor_from(user.username, user.roles, (g.name for g in user.groups))


def _actor_from(username: str, roles: str, groups: Iterable[str | None]) -> Actor:
    return Actor(username, frozenset(r for r in roles.split(",") if r), frozenset(g for g in groups if g))


def _view(user: User) -> UserView:
    return UserView(user.username, user.display_name, tuple(user.roles.split(",")),
                    tuple(g.name for g in user.groups), user.active, tuple(s for s in user.skills.split(",") if s),
                    user.absent_until)


def _groups(session: Session, names: Iterable[str]) -> list[Group]:
    found = []
    for name in sorted(set(names)):
        group = session.scalars(select(Group).where(Group.name == name)).first()
        if group is None:
            group = Group(name=name)
            session.add(group)
        found.append(group)
    return found


def create_user(
    ctx: EngineContext, *, username: str, roles: Iterable[str], groups: Iterable[str] = (),
    password: str | None = None, display_name: str | None = None, actor: str = "system",
) -> UserView:
    """Create a user (groups are created on first use). Raises InvalidInputError, ConflictError (exists)."""
    roles = sorted(set(roles))
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise InvalidInputError("username must be letters, digits, '.', '_' or '-'")
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise InvalidInputError(f"roles must be some of {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise InvalidInputError("password must have at least 8 characters")
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            user = User(username=username, display_name=display_name or username, roles=",".join(roles),
                        password_hash=_hasher(ctx).hash(password) if password else None, active=True, created_at=now)
            user.groups = _groups(session, groups)
            session.add(user)
            session.flush()
            audit.append(session, stream=f"user:{username}", actor=actor, action="user.created",
                         subject_type="user", subject_id=username, at=now,
                         after={"roles": roles, "groups": sorted(set(groups))})
            return _view(user)
    except IntegrityError as exc:
        raise ConflictError(f"user {username!r} already exists") from exc


def _any_user(session: Session, username: str) -> User:
    """The user, active or not (administration works on deactivated accounts too)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise UserNotFoundError(f"no user {username!r}")
    return user


def _find(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        raise UserNotFoundError(f"no active user {username!r}")
    return user


def get_actor(ctx: EngineContext, username: str) -> Actor:
    """The roles and groups of an active user. Raises UserNotFoundError."""
    with unit_of_work(ctx.sessions, write=False) as session:
        return _actor(_find(session, username))


def list_users(ctx: EngineContext) -> list[UserView]:
    with unit_of_work(ctx.sessions, write=False) as session:
        return [_view(u) for u in session.scalars(select(User).order_by(User.username))]


MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def authenticate_password(ctx: EngineContext, username: str, password: str) -> Actor:
    """Check a password. Raises AuthenticationError with the same message for every failure.

    Five wrong passwords in a row lock the account for 15 minutes (audited); a locked account is
    refused even with the right password, so guessing gains nothing. Counted in the database, so
    every web worker sees the same count.
    """
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = session.scalars(select(User).where(User.username == username).with_for_update()).first()
        locked = user is not None and user.locked_until is not None and user.locked_until > now
        try:
            if user is None or not user.active or not user.password_hash or locked:
                raise VerificationError("unknown, inactive or locked user")
            _hasher(ctx).verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            if user is not None and not locked:
                _count_failure(session, user, now)
            failure = True
        else:
            failure = False
            user.failed_logins, user.locked_until = 0, None
            actor = _actor(user)
    if failure:  # raised after the commit, so the failure count is kept
        raise AuthenticationError("wrong user name or password")
    return actor


def _count_failure(session: Session, user: User, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.failed_logins, user.locked_until = 0, now + LOCKOUT
        audit.append(session, stream=f"user:{user.username}", actor="system", action="login.locked",
                     subject_type="user", subject_id=user.username, at=now,
                     after={"until": user.locked_until.isoformat()})


def set_absence(ctx: EngineContext, username: str, *, until: datetime | None, actor: Actor) -> int:
    """Mark a user absent until ``until`` (None: back at work). Their claimed tasks go back to the queue.

    Supervisors and admins only. Returns how many tasks were put back. Audited.
    """
    require_role(actor, "supervisor", "admin")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = _find(session, username)
        user.absent_until = until
        moved = 0
        if until is not None and until > now:
            for task in session.scalars(select(HumanTask).where(
                    HumanTask.assignee == username, HumanTask.status == HumanTaskStatus.CLAIMED.value).with_for_update()):
                task.assignee, task.status, task.claimed_at, task.owner = None, HumanTaskStatus.OPEN.value, None, None
                moved += 1
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="user.absent",
                     subject_type="user", subject_id=username, at=now,
                     after={"until": until.isoformat() if until else None, "tasks_requeued": moved})
        return moved


def update_user(ctx: EngineContext, username: str, *, actor: Actor, roles: Iterable[str] | None = None,
                groups: Iterable[str] | None = None, skills: Iterable[str] | None = None,
                active: bool | None = None) -> UserView:
    """Change roles, groups, skills or the active flag (admins only). Raises InvalidInputError, UserNotFoundError."""
    require_role(actor, "admin")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = _any_user(session, username)
        before = {"roles": user.roles, "groups": [g.name for g in user.groups], "skills": user.skills,
                  "active": user.active}
        if roles is not None:
            wanted = sorted(set(roles))
            if not wanted or any(r not in ROLES for r in wanted):
                raise InvalidInputError(f"roles must be some of {', '.join(ROLES)}")
            user.roles = ",".join(wanted)
        if groups is not None:
            user.groups = _groups(session, groups)
        if skills is not None:
            user.skills = ",".join(sorted({s.strip() for s in skills if s.strip()}))
        if active is not None:
            user.active = active
        after = {"roles": user.roles, "groups": [g.name for g in user.groups], "skills": user.skills,
                 "active": user.active}
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="user.updated",
                     subject_type="user", subject_id=username, at=now, before=before, after=after)
        return _view(user)


def revoke_tokens(ctx: EngineContext, username: str, *, actor: Actor) -> int:
    """Revoke every API token of a user (admins, or the user for their own). Returns how many."""
    if actor.username != username:
        require_role(actor, "admin")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = _any_user(session, username)
        tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))).all()
        for token in tokens:
            token.revoked_at = now
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="token.revoked",
                     subject_type="user", subject_id=username, at=now, after={"count": len(tokens)})
        return len(tokens)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(ctx: EngineContext, *, username: str, name: str = "api", actor: str = "system") -> str:
    """Create an API token for ``username`` and return it; it cannot be shown again."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = _find(session, username)
        session.add(ApiToken(user_id=user.id, name=name, token_hash=_token_hash(token), created_at=now))
        audit.append(session, stream=f"user:{username}", actor=actor, action="token.created", subject_type="user",
                     subject_id=username, at=now, after={"name": name})
    return token


_TOKEN_ACTOR = PlainRead(
    select(User.username, User.roles, Group.name)
    .join(ApiToken, ApiToken.user_id == User.id)
    .outerjoin(GroupMembership, GroupMembership.user_id == User.id)
    .outerjoin(Group, Group.id == GroupMembership.group_id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None), User.active.is_(True))
)


def authenticate_token(ctx: EngineContext, token: str) -> Actor:
    """The actor behind an API token. Raises AuthenticationError (unknown, revoked, inactive user)."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("invalid API token")
    # Every API call runs this: one indexed read (token → user → groups) straight on a pooled connection, no ORM
    # objects, no transaction, the statement compiled once.
    rows = _TOKEN_ACTOR.all(ctx.db, {"token_hash": _token_hash(token)})
    if not rows:
        raise AuthenticationError("invalid API token")
    return _actor_from(rows[0][0], rows[0][1], (row[2] for row in rows))
