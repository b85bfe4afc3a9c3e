"""Queueing messages: the ``careflow.notify`` service handler and the rows it leaves behind.

A BPMN service task with operator ``careflow.notify`` and parameters ``template``, ``customer_id``
(and optionally ``channel``, ``key`` and the template's own parameters) queues one message. The
handler only records an intent on the call; the runtime writes it to ``outbox_message`` in the same
transaction as the step, so a crash loses both or neither. The handler returns
``{"outbox_key": key}``: a process that wants the delivery result waits for the message
``careflow.delivery`` correlated on ``outbox_key``. The intent is a step effect (``engine.runtime.effects``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import wakeups
from engine.bpmn.workflow import ServiceCall
from engine.outbox.models import OutboxMessage, OutboxStatus
from engine.outbox.templates import CUSTOMER_FIELDS, MessageTemplate, TemplateError
from engine.privacy import FieldCipher, Where

NOTIFY_HANDLER = "careflow.notify"
DELIVERY_MESSAGE = "careflow.delivery"
_RESERVED = frozenset({"template", "customer_id", "channel", "key"})


@dataclass(frozen=True)
class OutboxIntent:
    """One message to queue: a step effect (``engine.runtime.effects``) that writes its outbox row."""

    key: str
    customer_id: str | None
    channel: str
    template: str
    purpose: str
    urgent: bool
    params: dict[str, Any]
    task_name: str | None = None

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        session.add(OutboxMessage(
            idempotency_key=self.key, instance_id=instance_id, task_name=self.task_name, customer_id=self.customer_id,
            channel=self.channel, purpose=self.purpose, template=self.template, params=self.params,
            urgent=self.urgent, status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=now, created_at=now,
        ))
        wakeups.note_due(session, "outbox", now)


SEALED = "$sealed"


def param_field(outbox_key: str, name: str) -> Where:
    """Where a sealed parameter lives: the message's idempotency key (known before the row is written) and name."""
    return Where("outbox_message", f"params.{name}", outbox_key)


def seal_value(cipher: FieldCipher, value: Any, outbox_key: str, name: str) -> dict[str, str]:
    """A parameter kept encrypted in the outbox row (a one-time code): only the dispatcher opens it to render."""
    return {SEALED: cipher.encrypt(str(value), param_field(outbox_key, name)) or ""}


def open_params(cipher: FieldCipher, params: Mapping[str, Any], outbox_key: str) -> dict[str, Any]:
    return {k: cipher.decrypt(v[SEALED], param_field(outbox_key, k)) if isinstance(v, dict) and SEALED in v else v
            for k, v in params.items()}


def make_notify_handler(templates: Callable[[], Mapping[str, MessageTemplate]], defaults: Mapping[str, Any],
                        cipher: FieldCipher | None = None) -> Callable[[Mapping[str, Any], ServiceCall], Any]:
    """The ``careflow.notify`` handler over the loaded templates and default parameters (bank name).

    A template's ``secret_params`` are sealed with ``cipher`` before they reach the outbox row."""

    def notify(params: Mapping[str, Any], call: ServiceCall) -> dict[str, str]:
        name = params.get("template")
        template = templates().get(str(name))
        if template is None:
            raise TemplateError(f"no message template {name!r}")
        channel = str(params.get("channel") or "auto")
        if channel != "auto" and channel not in template.channels:
            raise TemplateError(f"template {template.key} cannot go by {channel}")
        values = {**defaults, **{k: v for k, v in params.items() if k not in _RESERVED}}
        missing = sorted(template.placeholders() - CUSTOMER_FIELDS - values.keys())
        if missing:
            raise TemplateError(f"template {template.key} needs parameters {', '.join(missing)}")
        key = str(params.get("key") or f"{call.instance_id}:{call.task_id}")
        customer = params.get("customer_id")
        call.effects.append(OutboxIntent(
            key=key, customer_id=str(customer) if customer else None, channel=channel, template=template.key,
            purpose=template.purpose, urgent=template.urgent,
            params={k: seal_value(cipher, values[k], key, k) if cipher is not None and k in template.secret else values[k]
                    for k in template.params if k in values}, task_name=call.task_name,
        ))
        return {"outbox_key": key}

    return notify
