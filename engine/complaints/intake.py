"""Who may file complaints from a channel (app, WeChat, …): signing secrets, the clock window, and replays.

A channel signs ``"<timestamp>." + body`` with HMAC-SHA256 (web.complaints.api). Three rules make a captured
request worthless:

- **a tight clock window**: the timestamp may be at most ``intake_max_age_seconds`` old and at most
  ``intake_max_future_seconds`` ahead (a sender's clock drifts a little; five minutes ahead was a free pass);
- **each signature once**: an accepted signature is stored (``intake_seen``, shared by every worker) until its
  timestamp leaves the window; the same request again is a :class:`ReplayedRequestError` (409) and is checked
  before the channel's rate limit, so replaying captured traffic cannot use up a channel's quota;
- **several secrets per channel**: a new secret is added beside the old ones and the old one retired explicitly
  once the sender has moved (each step audited), so rotation needs no moment when one side is wrong.

Secrets from ``CAREFLOW_INTAKE_SECRETS`` stay valid (several per channel allowed) beside those added here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as random_secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from engine import audit
from engine.complaints import codes
from engine.complaints.intake_models import IntakeSecret, SeenIntakeRequest
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import AuthenticationError, InvalidInputError, NotFoundError, ReplayedRequestError
from engine.inputs import check_text
from engine.privacy import intake_secret_field

MIN_SECRET_LENGTH = 16
STREAM = "intake"


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature matched one of its channel's active secrets, within the clock window."""

    channel: str
    signature: str
    timestamp: int


@dataclass(frozen=True)
class SecretView:
    """A channel secret as listed: never the secret itself, only its fingerprint."""

    id: int
    channel: str
    fingerprint: str
    label: str
    created_by: str
    created_at: datetime
    retired_by: str | None
    retired_at: datetime | None


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """What a channel sends as ``X-CareFlow-Signature``: hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def authenticate(ctx: EngineContext, *, channel: str, timestamp: str, signature: str, body: bytes) -> SignedRequest:
    """The request, when ``channel`` has an active secret that signed ``body`` at ``timestamp`` inside the window.

    Changes nothing. Raises AuthenticationError (unknown channel, bad timestamp or signature).
    """
    found = active_secrets(ctx, channel) if channel in codes.CHANNELS else []
    if not found:
        raise AuthenticationError("unknown intake channel")
    stamp = timestamp.strip()
    if not stamp.isdigit() or len(stamp) > 12:
        raise AuthenticationError("X-CareFlow-Timestamp must be Unix seconds")
    _check_window(ctx, int(stamp))
    sent = signature.strip().lower()
    if not any(hmac.compare_digest(sign(secret, stamp, body), sent) for secret in found):
        raise AuthenticationError("bad request signature")
    return SignedRequest(channel, sent, int(stamp))


def _check_window(ctx: EngineContext, stamp: int) -> None:
    settings = ctx.settings
    age = ctx.clock.now().timestamp() - stamp
    if age > settings.intake.max_age_seconds:
        raise AuthenticationError(f"the request was signed {int(age)} s ago; at most {settings.intake.max_age_seconds} "
                                  "s are accepted (sign each request when it is sent, and check the sender's clock)")
    if -age > settings.intake.max_future_seconds:
        raise AuthenticationError(f"the request timestamp is {int(-age)} s ahead of the server's clock; at most "
                                  f"{settings.intake.max_future_seconds} s are accepted (check the sender's clock)")


def check_unseen(ctx: EngineContext, request: SignedRequest) -> None:
    """ReplayedRequestError when this signature was accepted before (read only: nothing is counted)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        if session.get(SeenIntakeRequest, request.signature) is not None:
            raise _replayed(request)


def remember(ctx: EngineContext, request: SignedRequest) -> None:
    """Record the signature as used until its timestamp leaves the window (and forget expired ones).

    Raises ReplayedRequestError when a concurrent copy of the same request was recorded first.
    """
    now = ctx.clock.now()
    keep = datetime.fromtimestamp(request.timestamp, UTC) + timedelta(seconds=ctx.settings.intake.max_age_seconds + 1)
    try:
        with unit_of_work(ctx.sessions) as session:
            session.execute(delete(SeenIntakeRequest).where(SeenIntakeRequest.expires_at < now))
            session.add(SeenIntakeRequest(signature=request.signature, channel=request.channel, seen_at=now,
                                          expires_at=max(keep, now)))
    except IntegrityError as exc:
        raise _replayed(request) from exc


def _replayed(request: SignedRequest) -> ReplayedRequestError:
    return ReplayedRequestError("this signed request was already received; sign a retry afresh (the complaint's "
                                "message_id makes the retry safe)", details={"channel": request.channel})


def active_secrets(ctx: EngineContext, channel: str) -> list[str]:
    """Every secret that may sign for ``channel`` now: from the settings and the active ones stored here."""
    configured = [secret for name, secret in ctx.settings.intake.secrets if name == channel]
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = session.execute(select(IntakeSecret.secret_encrypted, IntakeSecret.fingerprint).where(
            IntakeSecret.channel == channel, IntakeSecret.retired_at.is_(None))).all()
    return configured + [secret for token, print_ in stored
                         if (secret := ctx.cipher.decrypt(token, intake_secret_field(channel, print_)))]


def add_secret(ctx: EngineContext, channel: str, *, by: str, secret: str | None = None,
               label: str = "") -> tuple[SecretView, str]:
    """Add a secret for ``channel`` beside its active ones (a new one is generated when none is given); returns it
    with its view. Audited. Raises InvalidInputError (unknown channel, a secret shorter than 16 characters)."""
    if channel not in codes.CHANNELS:
        raise InvalidInputError(f"unknown channel {channel!r}", details={"channels": sorted(codes.CHANNELS)})
    check_text(label, "label")
    secret = check_text(secret, "secret") if secret is not None else random_secrets.token_urlsafe(32)
    if len(secret) < MIN_SECRET_LENGTH or secret != secret.strip():
        raise InvalidInputError(f"a secret needs at least {MIN_SECRET_LENGTH} characters and no surrounding spaces")
    now = ctx.clock.now()
    where = intake_secret_field(channel, fingerprint(secret))
    row = IntakeSecret(channel=channel, secret_encrypted=ctx.cipher.encrypt(secret, where), fingerprint=fingerprint(secret),
                       label=label[:128], created_by=by, created_at=now)
    with unit_of_work(ctx.sessions) as session:
        session.add(row)
        session.flush()
        audit.append(session, stream=STREAM, actor=by, action="intake.secret_added", subject_type="channel",
                     subject_id=channel, at=now, after={"secret_id": row.id, "fingerprint": row.fingerprint,
                                                        "label": row.label})
        view = _view(row)
    return view, secret


def retire_secret(ctx: EngineContext, secret_id: int, *, by: str) -> SecretView:
    """Stop accepting one stored secret (the channel's other secrets stay valid). Audited.
    Raises NotFoundError (no such secret, or already retired)."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(IntakeSecret, secret_id, with_for_update=True)
        if row is None or row.retired_at is not None:
            raise NotFoundError(f"no active intake secret {secret_id}")
        row.retired_at, row.retired_by = now, by
        audit.append(session, stream=STREAM, actor=by, action="intake.secret_retired", subject_type="channel",
                     subject_id=row.channel, at=now, before={"secret_id": row.id, "fingerprint": row.fingerprint})
        return _view(row)


def list_secrets(ctx: EngineContext, *, include_retired: bool = False) -> list[SecretView]:
    """Stored secrets (fingerprints only), by channel then age."""
    stmt = select(IntakeSecret).order_by(IntakeSecret.channel, IntakeSecret.id)
    if not include_retired:
        stmt = stmt.where(IntakeSecret.retired_at.is_(None))
    with unit_of_work(ctx.sessions, write=False) as session:
        return [_view(row) for row in session.scalars(stmt)]


def fingerprint(secret: str) -> str:
    """A short, non-reversible name for a secret, to tell them apart in lists and the audit trail."""
    return hashlib.sha256(b"careflow-intake:" + secret.encode()).hexdigest()[:12]


def _view(row: IntakeSecret) -> SecretView:
    return SecretView(row.id, row.channel, row.fingerprint, row.label, row.created_by, row.created_at,
                      row.retired_by, row.retired_at)
