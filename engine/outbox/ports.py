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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.privacy import FieldCipher


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


@dataclass(frozen=True)
class Addressee:
    """A message's customer as the dispatcher needs them: the policy's facts (status, do-not-disturb, preferred and
    reachable channels, consents), what templates greet them with, and their address on a channel (read on demand).

    The customers feature owns the customer and their consents and answers for them (engine.customers.outreach,
    registered as ``EngineContext.addressees``); the outbox is core and reads no feature's table."""

    customer_id: str
    status: str
    do_not_disturb: bool
    preferred_channel: str
    reachable: frozenset[str]  # channels with an address on file
    consents: Mapping[tuple[str, str], bool]  # (channel or "all", purpose) -> granted
    language: str
    gender: str | None
    tier: str
    name: Callable[[], str]  # decrypted only when a message is rendered
    address: Callable[[str], str | None]  # channel -> phone, e-mail, openid or customer id (decrypted on demand)


class Directory(Protocol):
    """Finds a message's customer, in the dispatcher's read transaction; None when there is no such customer."""

    def __call__(self, session: Session, cipher: FieldCipher, customer_id: str) -> Addressee | None: ...
