"""Users, groups, roles and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are random 256-bit values
shown once; only their SHA-256 is stored, which is enough for secrets of that entropy
and keeps token checks cheap on every API call.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.models import ApiToken, Group, User
from engine.db.session import unit_of_work
from engine.errors import AuthenticationError, ConflictError, InvalidInputError, UserNotFoundError
from engine.views import ROLES, Actor, UserView

_HASHER = PasswordHasher()
TOKEN_PREFIX = "cf_"


def _actor(user: User) -> Actor:
    return Actor(user.username, frozenset(r for r in user.roles.split(",") if r), frozenset(g.name for g in user.groups))


def _view(user: User) -> UserView:
    return UserView(user.username, user.display_name, tuple(user.roles.split(",")),
                    tuple(g.name for g in user.groups), user.active)


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
                        password_hash=_HASHER.hash(password) if password else None, active=True, created_at=now)
            user.groups = _groups(session, groups)
            session.add(user)
            session.flush()
            audit.append(session, stream=f"user:{username}", actor=actor, action="user.created",
                         subject_type="user", subject_id=username, at=now,
                         after={"roles": roles, "groups": sorted(set(groups))})
            return _view(user)
    except IntegrityError as exc:
        raise ConflictError(f"user {username!r} already exists") from exc


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


def authenticate_password(ctx: EngineContext, username: str, password: str) -> Actor:
    """Check a password. Raises AuthenticationError with the same message for every failure."""
    with unit_of_work(ctx.sessions, write=False) as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        try:
            if user is None or not user.active or not user.password_hash:
                raise VerificationError("unknown user")
            _HASHER.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise AuthenticationError("wrong user name or password") from exc
        return _actor(user)


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


def authenticate_token(ctx: EngineContext, token: str) -> Actor:
    """The actor behind an API token. Raises AuthenticationError (unknown, revoked, inactive user)."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("invalid API token")
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _token_hash(token))).first()
        user = session.get(User, row.user_id) if row is not None and row.revoked_at is None else None
        if user is None or not user.active:
            raise AuthenticationError("invalid API token")
        return _actor(user)
