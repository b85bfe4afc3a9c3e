"""Sending queued messages after commit: claim, decide, send, record, tell the instance.

``dispatch_due`` is the one function the scheduler, the CLI (``careflow outbox dispatch``) and
tests call. Each round claims a batch of due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several dispatchers share the work and never take the same row), marks them ``sending`` with a
lease, and commits. Each message is then decided by :mod:`engine.outbox.policy` against the
customer's *current* consents, sent through its channel outside any transaction, and recorded.

Delivery is at least once: a dispatcher that dies between the provider's "accepted" and our
"sent" leaves the row ``sending``; when the lease runs out another dispatcher sends it again with
the same idempotency key, which the providers use to drop the duplicate. Final outcomes (sent,
suppressed, dead) go back to the instance as the message ``careflow.delivery``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.clock import as_utc
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import EngineError
from engine.outbox import staff
from engine.outbox.models import OutboxMessage, OutboxStatus
from engine.outbox.policy import Decision, Recent, Recipient, Sendable, decide
from engine.outbox.ports import Addressee, OutboundMessage, PermanentChannelError, TransientChannelError
from engine.outbox.store import DELIVERY_MESSAGE, open_params
from engine.outbox.templates import TIER_NAMES, MessageTemplate, salutation
from engine.views import SYSTEM

log = logging.getLogger(__name__)


@dataclass
class DispatchReport:
    sent: int = 0
    deferred: int = 0
    suppressed: int = 0
    retried: int = 0
    dead: int = 0
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (idempotency key, status)


def dispatch_due(ctx: EngineContext, *, now: datetime | None = None, limit: int | None = None) -> DispatchReport:
    """Handle every message due at ``now`` (default: the clock). Returns what happened to them."""
    moment = as_utc(now) if now is not None else ctx.clock.now()
    batch = limit or ctx.settings.outbox.batch_size
    report = DispatchReport()
    while True:
        ids = _claim(ctx, moment, batch)
        for message_id in ids:
            try:
                _handle(ctx, message_id, moment, report)
            except Exception:  # one broken message must not stop the others; its lease makes it come back
                log.exception("outbox message %s could not be handled", message_id)
        if len(ids) < batch:
            return report


def next_due(ctx: EngineContext, after: datetime) -> datetime | None:
    """When the dispatcher next has work: the earliest retry/deferral or expiring lease after ``after``."""
    with unit_of_work(ctx.sessions, write=False) as session:
        pending = session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_attempt_at > after))
        leased = session.scalar(select(func.min(OutboxMessage.lease_until)).where(
            OutboxMessage.status == OutboxStatus.SENDING.value, OutboxMessage.lease_until > after))
    found = [as_utc(d) for d in (pending, leased) if d is not None]
    return min(found) if found else None


def _claim(ctx: EngineContext, moment: datetime, batch: int) -> list[int]:
    with unit_of_work(ctx.sessions) as session:
        due = or_(
            (OutboxMessage.status == OutboxStatus.PENDING.value) & (OutboxMessage.next_attempt_at <= moment),
            (OutboxMessage.status == OutboxStatus.SENDING.value) & (OutboxMessage.lease_until <= moment),
        )
        rows = session.scalars(
            select(OutboxMessage).where(due).order_by(OutboxMessage.next_attempt_at).limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        lease = moment + timedelta(seconds=ctx.settings.outbox.lease_seconds)
        for row in rows:
            row.status, row.lease_until = OutboxStatus.SENDING.value, lease
        return [row.id for row in rows]


def _leased(ctx: EngineContext, row: OutboxMessage | None, moment: datetime) -> bool:
    """Whether ``row`` is still held by the dispatcher that claimed it at ``moment``. A gateway call that outlives
    the lease lets another dispatcher claim the row again (with a later lease): from then on only that one records
    the outcome, so a message is never counted, charged or reported to its instance twice."""
    if row is None or row.status != OutboxStatus.SENDING.value or row.lease_until is None:
        return False
    held = as_utc(row.lease_until) == moment + timedelta(seconds=ctx.settings.outbox.lease_seconds)
    if not held:
        log.info("outbox message %s: the lease claimed at %s was taken over; its outcome is left to the new holder",
                 row.id, moment.isoformat())
    return held


def _handle(ctx: EngineContext, message_id: int, moment: datetime, report: DispatchReport) -> None:
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(OutboxMessage, message_id)
        if row is None or not _leased(ctx, row, moment):
            return
        if row.recipient_kind == "staff":  # a staff member's notification: their own settings decide
            outbound = staff.outbound(session, row)
            decision = Decision("send") if outbound is not None else Decision("suppress", "staff_opted_out")
        else:
            customer = ctx.addressees(session, ctx.cipher, row.customer_id) \
                if row.customer_id and ctx.addressees is not None else None
            template = ctx.templates().get(row.template)
            sendable = Sendable(row.purpose, row.channel, row.urgent, bool(template and template.festive),
                                template.channels if template else ())
            decision = decide(sendable, _recipient(customer), _recent(session, row, moment), moment,
                              ctx.settings)
            outbound = _render(ctx, row, customer, template, decision) if decision.action == "send" else None
    if decision.action == "suppress":
        _finish(ctx, message_id, moment, OutboxStatus.SUPPRESSED, decision.reason, report)
    elif decision.action == "defer":
        _defer(ctx, message_id, moment, decision, report)
    elif outbound is not None:
        _send(ctx, message_id, outbound, moment, report)


def _recipient(customer: Addressee | None) -> Recipient | None:
    if customer is None:
        return None
    return Recipient(customer.status, customer.do_not_disturb, customer.preferred_channel, customer.reachable,
                     customer.consents)


def _recent(session: Session, row: OutboxMessage, moment: datetime) -> Recent:
    def count(purpose: str, days: int) -> int:
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.customer_id == row.customer_id, OutboxMessage.purpose == purpose,
            OutboxMessage.sent_at > moment - timedelta(days=days), OutboxMessage.id != row.id)) or 0

    if row.customer_id is None:
        return Recent(0, 0, 0)
    return Recent(count("service", 1), count("marketing", 1), count("marketing", 30))


def _render(ctx: EngineContext, row: OutboxMessage, customer: Addressee | None, template: MessageTemplate | None,
            decision: Decision) -> OutboundMessage | None:
    if customer is None or template is None or decision.channel is None:
        return None
    lang = customer.language if customer.language in template.texts else "zh-CN"
    name = customer.name()
    values = {**open_params(ctx.cipher, row.params, row.idempotency_key), "name": name,
              "salutation": salutation(name, customer.gender, lang),
              "tier_name": TIER_NAMES.get(lang, TIER_NAMES["zh-CN"]).get(customer.tier, customer.tier)}
    rendered = template.render(lang, values)
    address = customer.address(decision.channel)
    return OutboundMessage(
        idempotency_key=row.idempotency_key, channel=decision.channel, address=address or "", body=rendered.body,
        subject=rendered.subject, template_key=template.key, lang=lang, fields=rendered.fields,
        provider_template=template.wechat_template, customer_id=customer.customer_id,
    )


def _send(ctx: EngineContext, message_id: int, outbound: OutboundMessage, moment: datetime, report: DispatchReport) -> None:
    channel = ctx.channels.get(outbound.channel)
    try:
        if channel is None:
            raise TransientChannelError(f"channel {outbound.channel} is not configured")
        receipt = channel.send(outbound)
    except PermanentChannelError as exc:
        _finish(ctx, message_id, moment, OutboxStatus.DEAD, "rejected", report, error=str(exc), channel=outbound.channel)
        return
    except TransientChannelError as exc:
        _retry_or_bury(ctx, message_id, moment, str(exc), outbound.channel, report)
        return
    _finish(ctx, message_id, moment, OutboxStatus.SENT, None, report, channel=outbound.channel,
            provider_id=receipt.provider_id)


def backoff(settings_base: int, settings_max: int, attempts: int) -> timedelta:
    """Exponential backoff: base, 2×base, 4×base … capped (attempts counts failures so far, from 1)."""
    return timedelta(seconds=min(settings_base * 2 ** max(attempts - 1, 0), settings_max))


def _retry_or_bury(ctx: EngineContext, message_id: int, moment: datetime, error: str, channel: str,
                   report: DispatchReport) -> None:
    with unit_of_work(ctx.sessions) as session:
        row = session.get(OutboxMessage, message_id)
        if row is None or not _leased(ctx, row, moment):
            return
        row.attempts += 1
        row.last_error, row.channel = error[:2000], channel
        if row.attempts < ctx.settings.outbox.max_attempts:
            row.status, row.lease_until, row.status_reason = OutboxStatus.PENDING.value, None, "retrying"
            row.next_attempt_at = moment + backoff(ctx.settings.outbox.backoff_seconds,
                                                   ctx.settings.outbox.backoff_max_seconds, row.attempts)
            report.retried += 1
            return
    _finish(ctx, message_id, moment, OutboxStatus.DEAD, "retries_exhausted", report, error=error, channel=channel)


def _defer(ctx: EngineContext, message_id: int, moment: datetime, decision: Decision, report: DispatchReport) -> None:
    with unit_of_work(ctx.sessions) as session:
        row = session.get(OutboxMessage, message_id)
        if _leased(ctx, row, moment) and row is not None and decision.not_before is not None:
            row.status, row.lease_until = OutboxStatus.PENDING.value, None
            row.status_reason, row.next_attempt_at = decision.reason, as_utc(decision.not_before)
            report.deferred += 1


def _finish(ctx: EngineContext, message_id: int, moment: datetime, status: OutboxStatus, reason: str | None,
            report: DispatchReport, *, error: str | None = None, channel: str | None = None,
            provider_id: str | None = None) -> None:
    with unit_of_work(ctx.sessions) as session:
        row = session.get(OutboxMessage, message_id)
        if row is None or not _leased(ctx, row, moment):
            return
        row.status, row.status_reason, row.lease_until, row.finished_at = status.value, reason, None, moment
        if status is OutboxStatus.SENT:
            row.sent_at, row.provider_id, row.attempts = moment, provider_id, row.attempts + 1
        if status is OutboxStatus.DEAD and error and reason == "rejected":
            row.attempts += 1
        row.last_error = error[:2000] if error else row.last_error
        row.channel = channel or row.channel
        key, instance_id = row.idempotency_key, row.instance_id
    if status is OutboxStatus.SENT:
        report.sent += 1
    elif status is OutboxStatus.SUPPRESSED:
        report.suppressed += 1
    else:
        report.dead += 1
    report.outcomes.append((key, status.value))
    if instance_id is not None:
        _tell_instance(ctx, message_id, key, status, reason, channel, moment)


def _tell_instance(ctx: EngineContext, message_id: int, key: str, status: OutboxStatus, reason: str | None,
                   channel: str | None, moment: datetime) -> None:
    from engine.services.messages import deliver_message

    payload = {"outbox_key": key, "status": status.value, "reason": reason, "channel": channel, "at": moment.isoformat()}
    try:
        deliver_message(ctx, name=DELIVERY_MESSAGE, message_id=f"{key}:{status.value}", actor=SYSTEM,
                        correlation={"outbox_key": key}, payload=payload, source="outbox")
    except EngineError as exc:  # nobody waits for it (the process chose not to), or the instance ended
        log.debug("delivery result of %s not delivered: %s", key, exc)
        return
    with unit_of_work(ctx.sessions) as session:
        row = session.get(OutboxMessage, message_id)
        if row is not None:
            row.result_delivered = True
