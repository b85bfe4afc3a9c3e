"""Customer portal sign-in with one-time SMS codes, rate limits, and files a customer adds to a case.

``request_code`` answers the same way whether or not the phone belongs to a customer: a code row is
written either way (for an unknown phone the code is random and never sent), so rate limits, timing
and the reply never tell an outsider which phones are customers. The code goes out as the urgent
service template ``one_time_code`` through the outbox (sent after commit, at once: urgency skips the
contact window, do-not-disturb and caps; an opt-out of service SMS still stops it). Only a keyed,
salted hash of the code is kept; after use its outbox row's copy is blanked. Codes live
``settings.portal.otp_ttl_seconds`` (5 min), allow ``settings.portal.otp_max_attempts`` (5) wrong tries, and are
used once. Phones and IP addresses appear in the audit trail masked (docs/domain.md §3.2: one-time codes and
mobile numbers are C2 data; logs never hold them in clear).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from engine import audit
from engine.complaints.portal_models import OneTimeCode, RateHit
from engine.context import EngineContext
from engine.customers.models import Customer, CustomerStatus
from engine.db.models import Attachment
from engine.db.session import unit_of_work
from engine.errors import AuthenticationError, InstanceNotFoundError, InvalidInputError, NotFoundError, RateLimitedError
from engine.outbox.models import FINAL_OUTBOX_STATES, OutboxMessage
from engine.outbox.store import OutboxIntent, seal_value
from engine.privacy import mask_phone, normalise
from engine.runtime import step as steps
from engine.services.collaboration import check_file, insert_row, store_file
from engine.views import Actor, AttachmentView

TEMPLATE = "one_time_code"
# (at most N, per seconds): per phone one code a minute and five an hour; per IP twenty an hour.
PHONE_LIMITS = ((1, 60), (5, 3600))
IP_LIMITS = ((20, 3600),)
# Wrong codes per IP across all phones (guessing codes for many phones at once).
VERIFY_IP_LIMITS = ((30, 3600),)
_MOBILE = re.compile(r"1\d{10}")
# Customers who may sign in (a closed or deceased customer's phone behaves like an unknown one).
_SIGN_IN_STATUSES = (CustomerStatus.ACTIVE.value, CustomerStatus.DORMANT.value)


class OneTimeCodeError(AuthenticationError):
    """The code is wrong, expired, used, or its attempts are exhausted (``details.reason``)."""

    code = "otp_invalid"


@dataclass(frozen=True)
class CodeRequested:
    """The answer to every well-formed request, customer or not."""

    expires_in: int  # seconds
    resend_after: int  # seconds


def customer_actor(customer_id: str) -> Actor:
    """The actor a signed-in portal customer acts as (no staff role: no staff page or API lets it in)."""
    return Actor(f"customer:{customer_id}", frozenset({"customer"}))


def request_code(ctx: EngineContext, phone: str, *, ip: str | None) -> CodeRequested:
    """Record a code request and queue the SMS when the phone is a customer's.

    Raises InvalidInputError (not a mainland mobile number) and RateLimitedError (per phone: one a minute,
    five an hour; per IP: twenty an hour), both regardless of whether the phone is known.
    """
    number = _mobile(phone)
    now = ctx.clock.now()
    phone_index, ip_index = _index(ctx, number), _ip_index(ctx, ip)
    ttl = ctx.settings.portal.otp_ttl_seconds
    with unit_of_work(ctx.sessions) as session:
        _check_limits(session, OneTimeCode.phone_index == phone_index, PHONE_LIMITS, now)
        if ip_index is not None:
            _check_limits(session, OneTimeCode.ip_index == ip_index, IP_LIMITS, now)
        customer_id = session.scalar(
            select(Customer.id).where(Customer.phone_index == phone_index, Customer.status.in_(_SIGN_IN_STATUSES))
            .order_by(Customer.id).limit(1))
        earlier = session.scalars(select(OneTimeCode.outbox_key).where(
            OneTimeCode.phone_index == phone_index, OneTimeCode.outbox_key.is_not(None), OneTimeCode.used_at.is_(None)))
        _blank_outbox_copy(session, list(earlier))  # a new code supersedes them: no readable copies left behind
        code, salt = f"{secrets.randbelow(10**6):06d}", secrets.token_hex(8)
        row = OneTimeCode(phone_index=phone_index, ip_index=ip_index, customer_id=customer_id, salt=salt,
                          code_hash=_code_hash(ctx, phone_index, salt, code), attempts=0, created_at=now,
                          expires_at=now + timedelta(seconds=ttl))
        session.add(row)
        session.flush()
        if customer_id is not None:
            row.outbox_key = f"otp:{row.id}"
            OutboxIntent(
                key=row.outbox_key, customer_id=customer_id, channel="sms", template=TEMPLATE, purpose="service",
                urgent=True, params={"code": seal_value(ctx.cipher, code, row.outbox_key, "code"),
                                     "bank_name": ctx.settings.core.bank_name},
            ).apply(session, None, now)
        audit.append(session, stream=f"customer:{customer_id}" if customer_id else "portal:unknown",
                     actor="portal", action="portal.code_requested", subject_type="portal_code",
                     subject_id=str(row.id), at=now,
                     after={"phone": mask_phone(number), "ip": _mask_ip(ip), "known": customer_id is not None})
    return CodeRequested(expires_in=ttl, resend_after=PHONE_LIMITS[0][1])


def verify_code(ctx: EngineContext, phone: str, code: str, *, ip: str | None = None) -> str:
    """The customer id for a right code (which is then used up). Checks the latest code sent to ``phone``.

    Raises OneTimeCodeError with ``details.reason`` ``wrong`` (and ``remaining`` tries), ``expired``, ``used``,
    ``too_many_attempts`` or ``no_code``; RateLimitedError after too many wrong codes from one IP.
    """
    number = _mobile(phone)
    now = ctx.clock.now()
    phone_index, ip_index = _index(ctx, number), _ip_index(ctx, ip)
    bucket = f"otp-verify:{ip_index}" if ip_index else None
    if bucket is not None:
        with unit_of_work(ctx.sessions, write=False) as session:
            _check_limits(session, RateHit.bucket == bucket, VERIFY_IP_LIMITS, now, RateHit.at)
    with unit_of_work(ctx.sessions) as session:
        row = session.scalars(select(OneTimeCode).where(OneTimeCode.phone_index == phone_index)
                              .order_by(OneTimeCode.created_at.desc(), OneTimeCode.id.desc()).limit(1)
                              .with_for_update()).first()
        reason, remaining = _judge(ctx, row, code, now)
        if row is not None and reason == "wrong":
            row.attempts += 1
        elif row is not None and reason is None:
            row.used_at = now
            _blank_outbox_copy(session, [row.outbox_key] if row.outbox_key else [])
        if reason is not None and bucket is not None:
            session.add(RateHit(bucket=bucket, at=now))
        customer_id = row.customer_id if row is not None and reason is None else None
        audit.append(session, stream=f"customer:{row.customer_id}" if row and row.customer_id else "portal:unknown",
                     actor="portal", action="portal.code_verified" if reason is None else "portal.code_refused",
                     subject_type="portal_code", subject_id=str(row.id) if row else "-", at=now,
                     after={"phone": mask_phone(number), "ip": _mask_ip(ip), "reason": reason})
    if customer_id is None:
        raise OneTimeCodeError(_REFUSALS[reason or "wrong"],
                               details={"reason": reason or "wrong", "remaining": remaining})
    return customer_id


_REFUSALS = {
    "wrong": "验证码不正确 / The code is not right",
    "expired": "验证码已过期，请重新获取 / The code has expired; ask for a new one",
    "used": "验证码已使用，请重新获取 / The code was already used; ask for a new one",
    "too_many_attempts": "错误次数过多，请重新获取验证码 / Too many wrong tries; ask for a new code",
    "no_code": "请先获取验证码 / Ask for a code first",
}


def _judge(ctx: EngineContext, row: OneTimeCode | None, code: str, now: datetime) -> tuple[str | None, int]:
    """(refusal reason or None, tries left after this one)."""
    limit = ctx.settings.portal.otp_max_attempts
    if row is None:
        return "no_code", 0
    if row.used_at is not None:
        return "used", 0
    if row.attempts >= limit:
        return "too_many_attempts", 0
    if now >= row.expires_at:
        return "expired", limit - row.attempts
    given = re.sub(r"\s", "", code or "")
    right = bool(re.fullmatch(r"\d{6}", given)) and hmac.compare_digest(
        row.code_hash, _code_hash(ctx, row.phone_index, row.salt, given))
    if not right or row.customer_id is None:
        return "wrong", limit - row.attempts - 1
    return None, limit - row.attempts


def take_rate(ctx: EngineContext, bucket: str, limits: tuple[tuple[int, int], ...]) -> None:
    """Count one request in ``bucket``; RateLimitedError (nothing counted) when a limit is already reached.

    ``limits`` are (at most N, per seconds) pairs. Hits older than the longest window are pruned.
    """
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        _check_limits(session, RateHit.bucket == bucket, limits, now, RateHit.at)
        longest = max(seconds for _, seconds in limits)
        session.execute(delete(RateHit).where(RateHit.bucket == bucket, RateHit.at <= now - timedelta(seconds=longest)))
        session.add(RateHit(bucket=bucket, at=now))


def _check_limits(session: Session, where: ColumnElement[bool], limits: tuple[tuple[int, int], ...], now: datetime,
                  at: InstrumentedAttribute[datetime] = OneTimeCode.created_at) -> None:
    for most, seconds in limits:
        since = now - timedelta(seconds=seconds)
        stmt = select(func.count(), func.min(at)).where(where, at > since)
        count, oldest = session.execute(stmt).one()
        if count >= most:
            wait = int((oldest + timedelta(seconds=seconds) - now).total_seconds()) + 1 if oldest else seconds
            raise RateLimitedError(f"请求过于频繁，请 {wait} 秒后再试 / Too many requests; try again in {wait} s",
                                   retry_after=max(wait, 1))


def check_upload(ctx: EngineContext, filename: str, content: bytes) -> str:
    """The content type of an acceptable file (same size and type rules as task attachments), else InvalidInputError."""
    return check_file(ctx, filename, content)


def attach_files(ctx: EngineContext, instance_id: str, files: list[tuple[str, bytes]], *, actor: Actor) -> list[AttachmentView]:
    """Store files a complainant sent with a case on the case's instance (staff see them on its tasks).

    The caller has already checked that ``actor`` may act on this case. Raises InvalidInputError for a bad file.
    """
    most = ctx.settings.uploads.max_files
    if len(files) > most:
        raise InvalidInputError(f"最多 {most} 个附件 / at most {most} files")
    checked = [(Path(name).name, content, check_upload(ctx, name, content)) for name, content in files]
    try:
        key = uuid.UUID(instance_id)
    except ValueError as exc:
        raise NotFoundError(f"no instance {instance_id}") from exc

    def act(step: steps.Step) -> list[Attachment]:
        attached = []
        for name, content, content_type in checked:
            digest = hashlib.sha256(content).hexdigest()
            store_file(ctx, digest, content)
            row = Attachment(instance_id=key, task_id=None, filename=name, content_type=content_type,
                             size=len(content), sha256=digest, uploaded_by=actor.username, at=step.now)
            step.write(functools.partial(insert_row, row=row))
            step.audit("attachment.added", actor=actor.username,
                       after={"file": name, "sha256": digest, "size": len(content)})
            attached.append(row)
        return attached

    try:
        rows = steps.on_instance(ctx, key, act)
    except InstanceNotFoundError as exc:
        raise NotFoundError(f"no instance {instance_id}") from exc
    return [AttachmentView(r.id, None, r.filename, r.content_type, r.size, r.sha256, r.uploaded_by, r.at) for r in rows]


def list_case_files(ctx: EngineContext, instance_id: str, *, uploaded_by: str | None = None) -> list[AttachmentView]:
    """Files on a case's instance, oldest first; with ``uploaded_by`` only that uploader's (what a customer sees)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        stmt = select(Attachment).where(Attachment.instance_id == uuid.UUID(instance_id))
        if uploaded_by is not None:
            stmt = stmt.where(Attachment.uploaded_by == uploaded_by)
        return [AttachmentView(r.id, None, r.filename, r.content_type, r.size, r.sha256, r.uploaded_by, r.at)
                for r in session.scalars(stmt.order_by(Attachment.at, Attachment.id))]


def _blank_outbox_copy(session: Session, keys: list[str | None]) -> None:
    """The outbox row carries the code to the SMS channel; once it is used or superseded, keep no readable copy.

    Only rows the dispatcher has finished with (a code still waiting to go out keeps its text)."""
    if keys:
        session.execute(update(OutboxMessage).where(
            OutboxMessage.idempotency_key.in_(keys), OutboxMessage.status.in_([s.value for s in FINAL_OUTBOX_STATES]))
            .values(params={"code": "******", "bank_name": ""}))


def _mobile(phone: str) -> str:
    number = normalise(phone or "")
    if not _MOBILE.fullmatch(number):
        raise InvalidInputError("请输入11位手机号码 / Enter an 11-digit mobile number",
                                details={"fields": {"phone": ["请输入11位手机号码 / Enter an 11-digit mobile number"]}})
    return number


def _index(ctx: EngineContext, number: str) -> str:
    index = ctx.cipher.index(number)
    assert index is not None
    return index


def _ip_index(ctx: EngineContext, ip: str | None) -> str | None:
    return ctx.cipher.index(f"ip:{ip}") if ip else None


def _code_hash(ctx: EngineContext, phone_index: str, salt: str, code: str) -> str:
    return _index(ctx, f"otp:{phone_index}:{salt}:{code}")


def _mask_ip(ip: str | None) -> str:
    if not ip:
        return ""
    if ":" in ip:
        return ":".join(ip.split(":")[:3]) + ":*"
    return ".".join(ip.split(".")[:3]) + ".*"
