"""An optional second factor for supervisors and administrators: time-based one-time codes (RFC 6238, TOTP).

The secret is made here, shown once at enrolment (as text and as an ``otpauth://`` URI for an authenticator app)
and stored only encrypted with the personal data key (engine.privacy). A code counts once: the time step of the
last accepted code is kept, so a code seen over someone's shoulder cannot be used again. Wrong codes are throttled
like wrong passwords (engine.services.throttle), per account.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import select

from engine import audit
from engine.context import EngineContext
from engine.db.models import User
from engine.db.session import unit_of_work
from engine.errors import AuthenticationError, InvalidInputError, PermissionDeniedError, UserNotFoundError
from engine.privacy import totp_secret_field
from engine.services import throttle
from engine.views import Actor

ELIGIBLE_ROLES = ("supervisor", "admin")
STEP_SECONDS, DIGITS = 30, 6
DRIFT_STEPS = 1  # a code from the step before or after still counts (phone clocks drift)
ISSUER = "CareFlow"


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, what an authenticator app takes by hand
    uri: str  # otpauth://totp/...


def _totp(secret: str) -> TOTP:
    return TOTP(base64.b32decode(secret), DIGITS, SHA1(), STEP_SECONDS)  # noqa: S303 - SHA1 is what apps speak


def eligible(actor: Actor) -> bool:
    return any(role in actor.roles for role in ELIGIBLE_ROLES)


def new_enrolment(actor: Actor) -> Enrolment:
    """A fresh secret for ``actor`` (supervisors and administrators), not stored until :func:`enrol`."""
    if not eligible(actor):
        raise PermissionDeniedError("a second factor is for supervisors and administrators")
    secret = base64.b32encode(secrets.token_bytes(20)).decode()
    return Enrolment(secret, _totp(secret).get_provisioning_uri(actor.username, ISSUER))


def _step(ctx: EngineContext, code: str, secret: str, after: int | None) -> int | None:
    """The time step ``code`` belongs to (now, or one step off), if it is later than ``after``."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    now = int(ctx.clock.now().timestamp())
    totp = _totp(secret)
    for offset in (0, -DRIFT_STEPS, DRIFT_STEPS):
        moment = now + offset * STEP_SECONDS
        step = moment // STEP_SECONDS
        if (after is None or step > after) and secrets.compare_digest(totp.generate(moment).decode(), code):
            return step
    return None


def enrol(ctx: EngineContext, actor: Actor, secret: str, code: str) -> None:
    """Switch the second factor on for ``actor`` once a code from their app matches ``secret``. Audited.
    Raises InvalidInputError (wrong code), PermissionDeniedError."""
    if not eligible(actor):
        raise PermissionDeniedError("a second factor is for supervisors and administrators")
    step = _step(ctx, code, secret, None)
    if step is None:
        raise InvalidInputError("the code does not match: check the app's time and try the next code")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = session.scalars(select(User).where(User.username == actor.username).with_for_update()).first()
        if user is None:
            raise UserNotFoundError(f"no user {actor.username!r}")
        user.totp_secret = ctx.cipher.encrypt(secret, totp_secret_field(actor.username))
        user.totp_last_step = step
        audit.append(session, stream=f"user:{actor.username}", actor=actor.username, action="totp.enrolled",
                     subject_type="user", subject_id=actor.username, at=now)


def required(ctx: EngineContext, username: str) -> bool:
    """Whether ``username`` signs in with a code after the password."""
    with unit_of_work(ctx.sessions, write=False) as session:
        return bool(session.scalar(select(User.totp_secret).where(User.username == username)))


def verify(ctx: EngineContext, username: str, code: str) -> None:
    """Accept ``code`` once for ``username``. Raises AuthenticationError, RateLimitedError (throttled)."""
    key = "totp:" + username[:150]
    throttle.check(ctx, [key])
    with unit_of_work(ctx.sessions) as session:
        user = session.scalars(select(User).where(User.username == username).with_for_update()).first()
        secret = (ctx.cipher.decrypt(user.totp_secret, totp_secret_field(username))
                  if user is not None and user.totp_secret else None)
        step = _step(ctx, code, secret, user.totp_last_step) if secret and user is not None else None
        if step is not None and user is not None:
            user.totp_last_step = step
            throttle.clear(session, key)
    if step is None:
        throttle.record_failure(ctx, [(key, ctx.settings.security.login_throttle_after)], username=username)
        raise AuthenticationError("wrong or already used code")


def reset(ctx: EngineContext, username: str, *, actor: Actor) -> None:
    """Switch the second factor off (a lost phone): administrators, or the user for themselves. Audited."""
    if actor.username != username and "admin" not in actor.roles:
        raise PermissionDeniedError("only an administrator resets someone else's second factor")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        user = session.scalars(select(User).where(User.username == username).with_for_update()).first()
        if user is None:
            raise UserNotFoundError(f"no user {username!r}")
        user.totp_secret, user.totp_last_step = None, None
        audit.append(session, stream=f"user:{username}", actor=actor.username, action="totp.reset",
                     subject_type="user", subject_id=username, at=now)
