"""A real SMTP server for tests (aiosmtpd) that can refuse on demand."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailSink:
    """aiosmtpd handler: 550 for ``reject``, 450 for ``greylist``, 451 at DATA for the next ``defer`` messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.reject: set[str] = set()
        self.greylist: set[str] = set()
        self.defer = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]) -> str:  # noqa: N802
        if address in self.reject:
            return "550 5.1.1 mailbox unavailable"
        if address in self.greylist:
            return "450 4.2.0 greylisted, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.defer > 0:
            self.defer -= 1
            return "451 4.3.0 temporary failure, try again"
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK queued"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=(data.login, data.password) == (b"careflow", b"pa:ss"), handled=False)


@pytest.fixture
def sink() -> Iterator[tuple[MailSink, int]]:
    handler, port = MailSink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False)
    controller.start()
    yield handler, port
    controller.stop()
