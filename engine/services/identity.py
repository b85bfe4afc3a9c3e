"""Users, groups, roles and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are random 256-bit values
shown once; only their SHA-256 is stored, which is enough for secrets of that entropy
and keeps token checks cheap on every API call.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.authz.catalogue import PRIVILEGED_ROLES
from engine.context import EngineContext
from engine.db.models import ApiToken, Group, GroupMembership, HumanTask, HumanTaskStatus, User
from engine.db.plain import PlainRead
from engine.db.session import unit_of_work
from engine.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    UserNotFoundError,
)
from engine.services import approvals, sessions, throttle
from engine.services.authz import require_role
from engine.views import ROLES, Actor, UserView

_HASHER = PasswordHasher()  # argon2-cffi's RFC 9106 low-memory profile
_CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)


def _hasher(ctx: EngineContext) -> PasswordHasher:
    """Tests set ``settings.security.cheap_password_hashing``; verification works for hashes of either profile."""
    return _CHEAP if ctx.settings.security.cheap_password_hashing else _HASHER
TOKEN_PREFIX = "cf_"


def _actor(user: User) -> Actor:
    return _actor_from(user.username, user.roles, (g.name for g in user.groups))


def _actor_from(username: str, roles: str, groups: Iterable[str | None]) -> Actor:
    return Actor(username, frozenset(r for r in roles.split(",") if r), frozenset(g for g in groups if g))


def _view(user: User) -> UserView:
    return UserView(user.username, user.display_name, tuple(user.roles.split(",")),
                    tuple(g.name for g in user.groups), user.active, tuple(s for s in user.skills.split(",") if s),
                    user.absent_until, locked_until=user.locked_until)


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
    password_hash: str | None = None,
) -> UserView:
    """Create a user at once (groups are created on first use): the engine's own path — the command line, the
    demo, an approved request; administrators on the web use :func:`add_user`. Raises InvalidInputError,
    ConflictError (exists)."""
    roles = sorted(set(roles))
    _check_new_user(username, roles, password)
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            hashed = password_hash or (_hasher(ctx).hash(password) if password else None)
            user = User(username=username, display_name=display_name or username, roles=",".join(roles),
                        password_hash=hashed, active=True, created_at=now)
            user.groups = _groups(session, groups)
            session.add(user)
            session.flush()
            audit.append(session, stream=f"user:{username}", actor=actor, action="user.created",
                         subject_type="user", subject_id=username, at=now,
                         after={"roles": roles, "groups": sorted(set(groups))})
            return _view(user)
    except IntegrityError as exc:
        raise ConflictError(f"user {username!r} already exists") from exc


def add_user(ctx: EngineContext, *, username: str, roles: Iterable[str], groups: Iterable[str] = (),
             password: str | None = None, display_name: str | None = None, by: Actor) -> UserView | approvals.ApprovalView:
    """An administrator creates a user: at once, or — when a privileged role (admin, supervisor, compliance) is
    among the roles — once a second administrator approves (the answer is then the approval request; the password
    is kept only as its hash). Raises InvalidInputError, ConflictError, PermissionDeniedError."""
    authz.require(ctx, by, "users", "system", "users")
    wanted = sorted(set(roles))
    if not (set(wanted) & PRIVILEGED_ROLES) or not approvals.needed(ctx, by):
        return create_user(ctx, username=username, roles=wanted, groups=groups, password=password,
                           display_name=display_name, actor=by.username)
    _check_new_user(username, wanted, password)
    with unit_of_work(ctx.sessions, write=False) as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise ConflictError(f"user {username!r} already exists")
    return approvals.request_approval(
        ctx, kind="user", subject=username, actor=by,
        payload={"username": username, "roles": wanted, "groups": sorted(set(groups)), "display_name": display_name,
                 "password_hash": _hasher(ctx).hash(password) if password else None},
        summary=f"new user {username} with roles {','.join(wanted)}")


def _user_approved(ctx: EngineContext, view: approvals.ApprovalView, approver: Actor) -> dict[str, Any]:
    payload = view.payload
    created = create_user(ctx, username=payload["username"], roles=payload["roles"], groups=payload["groups"],
                          display_name=payload["display_name"], actor=approver.username,
                          password_hash=payload["password_hash"])
    return {"username": created.username, "roles": list(created.roles), "requested_by": view.requested_by}


def _check_new_user(username: str, roles: list[str], password: str | None) -> None:
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise InvalidInputError("username must be letters, digits, '.', '_' or '-'")
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise InvalidInputError(f"roles must be some of {', '.join(ROLES)}")
    if password is not None and len(password) < 8:
        raise InvalidInputError("password must have at least 8 characters")


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


# An account locked "until unlocked" (lock_user without an end): a date no clock reaches.
LOCKED_UNTIL_UNLOCKED = datetime(9999, 12, 31, tzinfo=UTC)
_DUMMY_HASHES: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of nothing anyone knows, made once per hasher: an unknown, inactive or locked user costs the same
    Argon2 verification as a real one, so the answer's timing says nothing about which names exist."""
    key = id(hasher)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[key]


def authenticate_password(ctx: EngineContext, username: str, password: str, *, ip: str | None = None) -> Actor:
    """Check a password. Raises AuthenticationError with the same message for every failure, RateLimitedError
    (seconds to wait) while the account or the address is throttled (engine.services.throttle).

    Wrong passwords slow further tries down, they never lock the account: nobody shuts a colleague (or an
    administrator) out by guessing at their name. An account an administrator locked (:func:`lock_user`) is
    refused even with the right password.
    """
    account, address = throttle.account_key(username), throttle.address_key(ctx, ip)
    keys = [account] + ([address] if address else [])
    throttle.check(ctx, keys)
    now = ctx.clock.now()
    hasher = _hasher(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        usable = (user is not None and user.active and bool(user.password_hash)
                  and (user.locked_until is None or user.locked_until <= now))
        stored = user.password_hash if usable and user is not None else None
        actor = _actor(user) if usable and user is not None else None
    try:
        hasher.verify(stored or _dummy_hash(hasher), password)
        verified = stored is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or actor is None:
        allowances = [(account, ctx.settings.security.login_throttle_after)]
        if address:
            allowances.append((address, ctx.settings.security.login_throttle_ip_after))
        throttle.record_failure(ctx, allowances, username=username)
        raise AuthenticationError("wrong user name or password")
    with unit_of_work(ctx.sessions) as session:
        throttle.clear(session, account)
    return actor


def lock_user(ctx: EngineContext, username: str, *, actor: Actor, until: datetime | None = None) -> None:
    """Lock an account (holders of the users grant): every session ends at once and its API tokens and password
    are refused until :func:`unlock_user` (or ``until``). Audited. Raises UserNotFoundError, PermissionDeniedError."""
    authz.require(ctx, actor, "users", "system", "users")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = _any_user(session, username)
        user.locked_until = until or LOCKED_UNTIL_UNLOCKED
        ended = sessions.end_all(session, sessions.STAFF, username)
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="user.locked",
                     subject_type="user", subject_id=username, at=now,
                     after={"until": until.isoformat() if until else None, "sessions_ended": ended})


def unlock_user(ctx: EngineContext, username: str, *, actor: Actor) -> None:
    """Lift a lock and clear the account's wrong-password count (holders of the users grant). Audited."""
    authz.require(ctx, actor, "users", "system", "users")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = _any_user(session, username)
        before = user.locked_until
        user.locked_until, user.failed_logins = None, 0
        throttle.clear(session, throttle.account_key(username))
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="user.unlocked",
                     subject_type="user", subject_id=username, at=now,
                     before={"locked_until": before.isoformat() if before else None})


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
    """Change roles, groups, skills or the active flag (holders of the users grant).

    Nobody changes their own roles; giving someone a privileged role (admin, supervisor, compliance) waits for a
    second administrator (``approval_id`` on the answer; the other changes apply at once). Raises
    InvalidInputError, UserNotFoundError, PermissionDeniedError."""
    authz.require(ctx, actor, "users", "system", "users")
    now = ctx.clock.now()
    approval_id = None
    with unit_of_work(ctx.sessions) as session:
        user = _any_user(session, username)
        before = {"roles": user.roles, "groups": [g.name for g in user.groups], "skills": user.skills,
                  "active": user.active}
        if roles is not None:
            wanted = sorted(set(roles))
            if not wanted or any(r not in ROLES for r in wanted):
                raise InvalidInputError(f"roles must be some of {', '.join(ROLES)}")
            held = set(user.roles.split(","))
            if set(wanted) != held and username == actor.username:
                raise PermissionDeniedError("nobody changes their own roles: ask another administrator",
                                            details={"reason": "own_roles"})
            if set(wanted) - held & PRIVILEGED_ROLES and approvals.needed(ctx, actor):
                approval_id = -1  # requested below, after this transaction
            else:
                user.roles = ",".join(wanted)
        if groups is not None:
            user.groups = _groups(session, groups)
        if skills is not None:
            user.skills = ",".join(sorted({s.strip() for s in skills if s.strip()}))
        if active is not None:
            user.active = active
            if not active:  # a deactivated user's sessions end now, so a later reactivation revives none
                sessions.end_all(session, sessions.STAFF, username)
        after = {"roles": user.roles, "groups": [g.name for g in user.groups], "skills": user.skills,
                 "active": user.active}
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="user.updated",
                     subject_type="user", subject_id=username, at=now, before=before, after=after)
        view = _view(user)
    if approval_id is not None:
        wanted_roles = sorted(set(roles or ()))
        request = approvals.request_approval(
            ctx, kind="roles", subject=username, actor=actor, payload={"username": username, "roles": wanted_roles},
            summary=f"{username}: roles {','.join(wanted_roles)} (now {before['roles']})")
        view = replace(view, approval_id=request.id)
    return view


def _roles_approved(ctx: EngineContext, view: approvals.ApprovalView, approver: Actor) -> dict[str, Any]:
    now = ctx.clock.now()
    username, roles = str(view.payload["username"]), [str(r) for r in view.payload["roles"]]
    if username == approver.username:
        raise PermissionDeniedError("nobody approves a change of their own roles", details={"reason": "own_roles"})
    with unit_of_work(ctx.sessions) as session:
        user = _any_user(session, username)
        before = user.roles
        user.roles = ",".join(roles)
        audit.append(session, stream=f"user:{username}", actor=approver.username, action="user.roles_approved",
                     subject_type="user", subject_id=username, at=now,
                     before={"roles": before}, after={"roles": roles, "requested_by": view.requested_by})
    return {"roles": roles}


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


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    expires_at: datetime


def create_token(ctx: EngineContext, *, username: str, name: str = "api", actor: str = "system") -> str:
    """Create an API token for ``username`` and return it (see :func:`issue_token`)."""
    return issue_token(ctx, username=username, name=name, actor=actor).token


def issue_token(ctx: EngineContext, *, username: str, name: str = "api", actor: str = "system") -> IssuedToken:
    """Create an API token for ``username``: the token (it cannot be shown again) and when it expires
    (``settings.sessions.token_ttl_days`` from now).

    A token of someone holding a privileged role (admin, supervisor, compliance), made by anyone but the engine
    itself, counts only once a second administrator approves it (engine.services.approvals, kind ``token``):
    nobody arms themselves with an administrator's token alone."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = ctx.clock.now()
    expires = now + timedelta(days=ctx.settings.sessions.token_ttl_days)
    with unit_of_work(ctx.sessions) as session:
        user = _find(session, username)
        waits = (ctx.settings.security.four_eyes_changes and actor != "system"
                 and bool(set(user.roles.split(",")) & PRIVILEGED_ROLES))
        row = ApiToken(user_id=user.id, name=name, token_hash=_token_hash(token), created_at=now,
                       awaiting_approval=waits, expires_at=expires)
        session.add(row)
        session.flush()
        audit.append(session, stream=f"user:{username}", actor=actor, action="token.created", subject_type="user",
                     subject_id=username, at=now,
                     after={"name": name, "awaiting_approval": waits, "expires_at": expires.isoformat()})
        token_id = row.id
    if waits:
        approvals.request_approval(ctx, kind="token", subject=username, actor=Actor(actor),
                                   payload={"token_id": token_id, "username": username, "name": name},
                                   summary=f"API token {name!r} of {username}")
    return IssuedToken(token, expires)


def _token_approved(ctx: EngineContext, view: approvals.ApprovalView, approver: Actor) -> dict[str, Any]:
    now = ctx.clock.now()
    if view.payload["username"] == approver.username:
        raise PermissionDeniedError("nobody approves their own API token", details={"reason": "own_token"})
    with unit_of_work(ctx.sessions) as session:
        row = session.get(ApiToken, int(view.payload["token_id"]))
        if row is None or row.revoked_at is not None:
            return {"activated": False}
        row.awaiting_approval = False
        audit.append(session, stream=f"user:{view.payload['username']}", actor=approver.username,
                     action="token.approved", subject_type="user", subject_id=str(view.payload["username"]), at=now,
                     after={"name": row.name, "requested_by": view.requested_by})
    return {"activated": True}


def _users_checker(view: approvals.ApprovalView) -> tuple[str, str, str]:
    return ("users", "system", "users")


approvals.register("roles", checker=_users_checker, execute=_roles_approved)
approvals.register("user", checker=_users_checker, execute=_user_approved)
approvals.register("token", checker=_users_checker, execute=_token_approved)


_TOKEN_ACTOR = PlainRead(
    select(User.username, User.roles, Group.name, ApiToken.id, ApiToken.expires_at, ApiToken.last_used_at,
           User.locked_until)
    .join(ApiToken, ApiToken.user_id == User.id)
    .outerjoin(GroupMembership, GroupMembership.user_id == User.id)
    .outerjoin(Group, Group.id == GroupMembership.group_id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
           ApiToken.awaiting_approval.is_(False), User.active.is_(True))
)
TOKEN_TOUCH_EVERY = timedelta(minutes=1)


def authenticate_token(ctx: EngineContext, token: str) -> Actor:
    """The actor behind an API token. Raises AuthenticationError (unknown, revoked, expired, inactive or locked
    user)."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("invalid API token")
    # Every API call runs this: one indexed read (token → user → groups) straight on a pooled connection, no ORM
    # objects, no transaction, the statement compiled once. A write only once a minute per token (last_used_at)
    # and once when it expires.
    now = ctx.clock.now()
    rows = _TOKEN_ACTOR.all(ctx.db, {"token_hash": _token_hash(token)})
    if not rows:
        raise AuthenticationError("invalid API token")
    username, token_id = rows[0][0], rows[0][3]
    expires, last_used, locked = (_moment(value) for value in rows[0][4:7])
    if locked is not None and locked > now:
        raise AuthenticationError("invalid API token")
    if expires is not None and expires <= now:
        _expire(ctx, token_id, username, now)
        raise AuthenticationError("API token expired")
    if last_used is None or now - last_used >= TOKEN_TOUCH_EVERY:
        with unit_of_work(ctx.sessions) as session:
            session.execute(update(ApiToken).where(
                ApiToken.id == token_id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now))
                .values(last_used_at=now))
    return _actor_from(username, rows[0][1], (row[2] for row in rows))


def _moment(value: Any) -> datetime | None:
    """A time read with a plain statement: PostgreSQL hands back an aware datetime, SQLite the naive UTC text."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _expire(ctx: EngineContext, token_id: int, username: str, now: datetime) -> None:
    """Retire an expired token on its first refused use: audited once, later calls stop at the revoked filter."""
    with unit_of_work(ctx.sessions) as session:
        done = session.execute(update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                               .values(revoked_at=now))
        if getattr(done, "rowcount", 0):
            audit.append(session, stream=f"user:{username}", actor="system", action="token.expired",
                         subject_type="user", subject_id=username, at=now, after={"token_id": token_id})
