"""SMS channel: the bank's SMS gateway over HTTPS with a signed JSON body.

The gateway de-duplicates on ``Idempotency-Key``, so a resend after a crash is answered with the
first message id instead of texting the customer twice. The body is signed with HMAC-SHA256 over
the exact bytes sent (``X-Signature``), which is why the body is serialised once, here, and never
re-encoded by the HTTP client.

Phone numbers are personal data: they never appear unmasked in logs or exception messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import httpx

from engine.clock import Clock, SystemClock
from engine.outbox.ports import DeliveryReceipt, OutboundMessage, PermanentChannelError, TransientChannelError
from engine.privacy import mask_phone

log = logging.getLogger(__name__)

# Statuses worth retrying besides 5xx: rate limited, and the gateway's own request timeout.
_RETRYABLE_4XX = frozenset({408, 429})


def sign(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw request body: the gateway recomputes it over the bytes it received."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SmsGatewayChannel:
    """POSTs ``{"to", "text", "idempotency_key"}`` to the gateway; 429/5xx/network → transient, other 4xx → permanent."""

    name = "sms"

    def __init__(
        self,
        url: str,
        secret: str,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._clock = clock if clock is not None else SystemClock()

    def __repr__(self) -> str:  # no secret in reprs or logs
        return f"SmsGatewayChannel(url={self.url!r})"

    def close(self) -> None:
        """Closes the HTTP client if this channel created it (a client passed in belongs to the caller)."""
        if self._owns_client:
            self._client.close()

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        masked = mask_phone(message.address)
        payload = {"to": message.address, "text": message.body, "idempotency_key": message.idempotency_key}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.idempotency_key,
            "X-Timestamp": str(int(self._clock.now().timestamp())),
            "X-Signature": sign(self._secret, body),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            log.warning("sms to %s timed out", masked)
            raise TransientChannelError(f"SMS gateway timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            log.warning("sms to %s: gateway unreachable: %s", masked, type(exc).__name__)
            raise TransientChannelError(f"SMS gateway unreachable ({type(exc).__name__}: {exc})") from exc
        status = response.status_code
        if 200 <= status < 300:
            provider_id = _reply_id(response)
            log.info("sms to %s accepted id=%s", masked, provider_id)
            return DeliveryReceipt(provider_id=provider_id, detail=f"HTTP {status}")
        detail = f"SMS gateway answered HTTP {status} for {masked}"
        log.warning(detail)
        if status >= 500 or status in _RETRYABLE_4XX:
            raise TransientChannelError(detail)
        raise PermanentChannelError(detail)


def _reply_id(response: httpx.Response) -> str | None:
    """The gateway's message id; a 2xx without one still means "accepted", so it is not an error."""
    try:
        data = response.json()
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return None if value is None else str(value)
