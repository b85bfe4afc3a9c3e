"""The port that channel adapters implement (SMS, e-mail, WeChat, in-app).

The engine decides *whether* and *when* a message goes out (consent, do-not-disturb, contact
window, caps, retries); an adapter in ``integrations/`` only carries one rendered message to one
address and says how it went. Adapters raise :class:`TransientChannelError` for anything worth
retrying (timeouts, 5xx, SMTP 4xx, gateway busy) and :class:`PermanentChannelError` when a retry
cannot help (invalid address, rejected template): the message is then dead-lettered at once.

Every message carries an ``idempotency_key``; adapters pass it to the provider (HTTP header
``Idempotency-Key``, SMTP ``Message-ID``) so that a resend after a crash between "sent" and
"recorded" is recognised downstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    channel: str  # "sms" | "email" | "wechat" | "inapp"
    address: str  # phone number, e-mail address, WeChat openid, or customer id for in-app
    body: str
    subject: str | None = None
    template_key: str = ""
    lang: str = "zh-CN"
    # The rendered template fields (for WeChat template messages, which carry fields, not text).
    fields: Mapping[str, str] = field(default_factory=dict)
    # The provider's template id, where the channel needs one (WeChat).
    provider_template: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    provider_id: str | None = None
    detail: str = ""


class ChannelError(Exception):
    """A channel could not deliver; the subclass says whether to retry."""


class TransientChannelError(ChannelError):
    """Worth retrying later (network, timeouts, 5xx, SMTP 4xx, rate limits)."""


class PermanentChannelError(ChannelError):
    """A retry cannot help (bad address, rejected content): dead-letter the message now."""


class Channel(Protocol):
    name: str

    def send(self, message: OutboundMessage) -> DeliveryReceipt: ...
