"""Inbound messages: routed by name + correlation values, idempotent on (source, message_id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import authz
from engine.context import EngineContext
from engine.db.models import InboundMessage, InstanceStatus, MessageSubscription
from engine.db.session import unit_of_work
from engine.errors import AmbiguousCorrelationError, InvalidInputError, MessageNotCorrelatedError
from engine.inputs import check_text, check_value
from engine.runtime import step as steps
from engine.runtime.projection import correlation_hash
from engine.services.authz import require_any_role
from engine.views import Actor, MessageResult


def _check(ctx: EngineContext, name: str, message_id: str, correlation: Any, payload: Any) -> None:
    if not name or not message_id:
        raise InvalidInputError("a message needs a name and a message_id")
    if not isinstance(correlation, dict) or not isinstance(payload, dict):
        raise InvalidInputError("correlation and payload must be objects")
    check_text(name, "name")
    check_text(message_id, "message_id")
    check_value(correlation, "correlation", ctx.settings.input_limits)
    check_value(payload, "payload", ctx.settings.input_limits)


def deliver_message(
    ctx: EngineContext,
    *,
    name: str,
    message_id: str,
    actor: Actor,
    correlation: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    source: str = "api",
) -> MessageResult:
    """Deliver a message to the one instance waiting for ``name`` with exactly these correlation values.

    The actor needs the ``correlate`` grant on the message name; a customer's own act (engine.authz.catalogue
    CUSTOMER_ACTS) is never covered by a "*" grant. The same ``(source, message_id)`` again changes nothing and
    returns the first result (``duplicate=True``). Raises MessageNotCorrelatedError (nobody waits; nothing
    recorded, the sender may retry), AmbiguousCorrelationError, InvalidInputError (also: the payload lacks a
    correlation value), PermissionDeniedError.
    """
    require_any_role(actor)
    _check(ctx, name, message_id, correlation or {}, payload or {})
    authz.require(ctx, actor, "correlate", "message", name)
    return deliver_trusted(ctx, name=name, message_id=message_id, actor=actor, correlation=correlation,
                           payload=payload, source=source)


def deliver_trusted(
    ctx: EngineContext,
    *,
    name: str,
    message_id: str,
    actor: Actor,
    correlation: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    source: str = "api",
) -> MessageResult:
    """:func:`deliver_message` for a caller that has already decided the actor may send it: a customer's own act
    through the portal or an intake client, or staff recording it for the customer (engine.complaints.service)."""
    correlation, payload = correlation or {}, payload or {}
    _check(ctx, name, message_id, correlation, payload)
    previous = _previous(ctx, source, message_id)
    if previous is not None:
        return previous
    with unit_of_work(ctx.sessions, write=False) as session:
        subs = session.scalars(
            select(MessageSubscription).where(
                MessageSubscription.name == name, MessageSubscription.correlation_hash == correlation_hash(correlation)
            ).limit(2)
        ).all()
    if not subs:
        raise MessageNotCorrelatedError(f"no instance is waiting for {name!r} with {correlation}")
    if len({s.instance_id for s in subs}) > 1:
        raise AmbiguousCorrelationError(f"several instances wait for {name!r} with {correlation}")
    sub = subs[0]

    def act(step: steps.Step) -> MessageResult:
        assert step.session is not None
        earlier = _previous_in(step.session, source, message_id)
        if earlier is not None:
            return earlier  # delivered by a concurrent call while we looked
        if step.instance.status != InstanceStatus.RUNNING.value:
            raise MessageNotCorrelatedError(f"the waiting instance is {step.instance.status}")
        if step.session.get(MessageSubscription, sub.id) is None:
            raise MessageNotCorrelatedError(f"no instance is waiting for {name!r} with {correlation} any more")
        step.deliver(uuid.UUID(sub.spiff_task_id), name, payload, correlation)
        result = MessageResult(message_id, "delivered", (str(step.instance.id),))
        record = {"status": result.status, "instance_ids": list(result.instance_ids)}
        # The message id is claimed with the step: a concurrent duplicate fails on the unique index, and is
        # answered with this result.
        step.write(lambda session: _claim(session, source, message_id, name, step.now, record))
        step.audit("message.received", actor=actor.username,
                   after={"name": name, "message_id": message_id, "source": source})
        return result

    try:
        return steps.on_instance(ctx, sub.instance_id, act)
    except IntegrityError:
        previous = _previous(ctx, source, message_id)
        if previous is None:
            raise
        return previous


def _claim(session: Session, source: str, message_id: str, name: str, at: datetime, result: dict[str, Any]) -> None:
    session.execute(insert(InboundMessage).values(source=source, message_id=message_id, name=name, received_at=at,
                                                  result=result))


def _previous(ctx: EngineContext, source: str, message_id: str) -> MessageResult | None:
    with unit_of_work(ctx.sessions, write=False) as session:
        return _previous_in(session, source, message_id)


def _previous_in(session: Session, source: str, message_id: str) -> MessageResult | None:
    row = session.scalars(
        select(InboundMessage).where(InboundMessage.source == source, InboundMessage.message_id == message_id)
    ).first()
    if row is None:
        return None
    return MessageResult(message_id, row.result.get("status", "delivered"),
                         tuple(row.result.get("instance_ids", [])), duplicate=True)

