"""A development channel: accepts every message, logs it masked, and files it in a local mailbox. Never configured
by default.

``make run`` turns it on for SMS, e-mail and WeChat (``CAREFLOW_CHANNEL_SANDBOX=sms,email,wechat``) so a newcomer
sees greetings "go out" without a gateway; a real gateway configured for a channel always wins over the sandbox.
What the sandbox "sent" is appended to a JSON-lines mailbox file (``CAREFLOW_DEV_MAILBOX``, default
``instance/dev-mailbox.jsonl``), which the development page ``/dev/mailbox`` shows, so an evaluator can read the
portal's one-time code. The file holds message text in clear: it exists only where sandbox channels are on.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from engine.clock import Clock, SystemClock
from engine.outbox.ports import DeliveryReceipt, OutboundMessage
from engine.privacy import mask_email, mask_phone

log = logging.getLogger(__name__)
DEFAULT_MAILBOX = Path("instance") / "dev-mailbox.jsonl"


def mailbox_path() -> Path:
    return Path(os.environ.get("CAREFLOW_DEV_MAILBOX") or DEFAULT_MAILBOX)


def sandbox_channels() -> list[str]:
    return [name.strip() for name in os.environ.get("CAREFLOW_CHANNEL_SANDBOX", "").split(",") if name.strip()]


def read_mailbox(path: Path | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` messages the sandbox carried, newest first (unreadable lines are skipped)."""
    path = path or mailbox_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in reversed(lines[-limit:]):
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


class SandboxChannel:
    def __init__(self, name: str, mailbox: Path | None = None, clock: Clock | None = None) -> None:
        self.name = name
        self.mailbox = mailbox
        self.clock = clock or SystemClock()
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        shown = {"sms": mask_phone, "email": mask_email}.get(self.name, lambda a: a[:4] + "***")(message.address)
        log.info("sandbox %s to %s: %s", self.name, shown, message.template_key)
        self.sent.append(message)
        if self.mailbox is not None:
            self._file(message, shown)
        return DeliveryReceipt(provider_id=f"sandbox:{message.idempotency_key}")

    def _file(self, message: OutboundMessage, shown: str) -> None:
        entry = {"at": self.clock.now().isoformat(timespec="seconds"), "channel": self.name, "to": shown,
                 "template": message.template_key, "subject": message.subject, "body": message.body}
        assert self.mailbox is not None
        self.mailbox.parent.mkdir(parents=True, exist_ok=True)
        # One short line per message, appended: the web and scheduler processes may both write, and an append of
        # a line this size is not interleaved with another's.
        with self.mailbox.open("a", encoding="utf-8") as box:
            box.write(json.dumps(entry, ensure_ascii=False) + "\n")
