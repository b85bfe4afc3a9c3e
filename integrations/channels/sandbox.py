"""A development channel: accepts every message and logs it, masked. Never configured by default.

``make run`` turns it on for SMS, e-mail and WeChat (``CAREFLOW_CHANNEL_SANDBOX=sms,email,wechat``)
so a newcomer sees greetings "go out" without a gateway; a real gateway configured for a channel
always wins over the sandbox.
"""

from __future__ import annotations

import logging

from engine.outbox.ports import DeliveryReceipt, OutboundMessage
from engine.privacy import mask_email, mask_phone

log = logging.getLogger(__name__)


class SandboxChannel:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        shown = {"sms": mask_phone, "email": mask_email}.get(self.name, lambda a: a[:4] + "***")(message.address)
        log.info("sandbox %s to %s: %s", self.name, shown, message.template_key)
        self.sent.append(message)
        return DeliveryReceipt(provider_id=f"sandbox:{message.idempotency_key}")
