"""E-mail channel: one rendered message to one address over SMTP.

Why a fresh connection per message: the outbox sends in small batches with long gaps, and a pooled
SMTP session would mostly be found dead by the server's idle timeout; opening per send keeps the
error mapping simple (every failure belongs to exactly one message).

The idempotency key becomes the ``Message-ID``, so a resend after a crash between "sent" and
"recorded" carries the same id and the receiving side (mail store, archive, customer's client)
can recognise the duplicate.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import string
from email.message import EmailMessage
from email.utils import formatdate

from engine.outbox.ports import DeliveryReceipt, OutboundMessage, PermanentChannelError, TransientChannelError

log = logging.getLogger(__name__)

# RFC 5322 "atext" without the dot: characters allowed verbatim in the left part of a Message-ID.
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$&'*+-/=?^_`{|}~")


def message_id_for(idempotency_key: str) -> str:
    """``<key@careflow>``; characters a Message-ID cannot hold are %-escaped (deterministic, so resends match)."""
    left = "".join(c if c in _ATEXT else "".join(f"%{b:02X}" for b in c.encode()) for c in idempotency_key)
    return f"<{left}@careflow>"


def _is_transient_code(code: int) -> bool:
    return 400 <= code < 500


class SmtpChannel:
    """Sends e-mail through one SMTP relay; 4xx and network trouble are transient, 5xx permanent."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout = timeout

    def __repr__(self) -> str:  # no password in reprs or logs
        return f"SmtpChannel(host={self.host!r}, port={self.port}, sender={self.sender!r}, starttls={self.starttls})"

    def _build(self, message: OutboundMessage) -> EmailMessage:
        mail = EmailMessage()
        try:
            mail["From"] = self.sender
            mail["To"] = message.address
            mail["Subject"] = message.subject or ""
            mail["Message-ID"] = message_id_for(message.idempotency_key)
            mail["Date"] = formatdate(usegmt=True)
            mail["Content-Language"] = message.lang
            mail.set_content(message.body, charset="utf-8")
        except (ValueError, TypeError) as exc:  # malformed address or header: a retry renders the same thing
            raise PermanentChannelError(f"cannot build e-mail: {exc}") from exc
        return mail

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        mail = self._build(message)
        message_id = str(mail["Message-ID"])
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self._password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            if codes and all(_is_transient_code(code) for code in codes):
                raise TransientChannelError(f"recipient deferred by SMTP server: {codes}") from exc
            raise PermanentChannelError(f"recipient refused by SMTP server: {codes}") from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA rejected, AUTH failed, ...
            reply = f"{exc.smtp_code} {exc.smtp_error!r}"
            if _is_transient_code(exc.smtp_code):
                raise TransientChannelError(f"SMTP server deferred the message: {reply}") from exc
            raise PermanentChannelError(f"SMTP server rejected the message: {reply}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise TransientChannelError(f"SMTP server disconnected: {exc}") from exc
        except smtplib.SMTPNotSupportedError as exc:  # e.g. STARTTLS/AUTH not offered: configuration, not luck
            raise PermanentChannelError(f"SMTP server does not support a required extension: {exc}") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS handshake, DNS
            raise TransientChannelError(f"SMTP connection to {self.host}:{self.port} failed: {exc!r}") from exc
        log.info("email sent message_id=%s", message_id)
        return DeliveryReceipt(provider_id=message_id, detail=f"accepted by {self.host}:{self.port}")
