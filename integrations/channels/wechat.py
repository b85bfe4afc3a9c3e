"""WeChat channel: template messages of the bank's Official Account (公众号 模板消息).

WeChat hands out an ``access_token`` per appid with a daily quota on fetches, and a new fetch
invalidates the previous token after a grace period; hence one cached token per channel, refreshed
shortly before ``expires_in`` runs out (measured on an injected monotonic clock, so tests can move
time) and dropped when WeChat says it is invalid or expired.

WeChat answers HTTP 200 for almost everything and reports the outcome in ``errcode``; the mapping
to transient/permanent lives in the code sets below. The idempotency key goes out as
``client_msg_id``, WeChat's own anti-reentry id (same openid + id within ~10 minutes → sent once).

The token and the app secret travel in query strings (WeChat's API design), so no URL is ever put
into a log line or an exception message by this module.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from engine.outbox.ports import DeliveryReceipt, OutboundMessage, PermanentChannelError, TransientChannelError

log = logging.getLogger(__name__)

BUSY_CODES = frozenset({-1, 45009, 45011})  # system busy, API rate limit, per-minute quota
TOKEN_CODES = frozenset({40001, 40014, 42001})  # invalid credential, invalid token, token expired
# Anything else non-zero (43004 unsubscribed, 40003 bad openid, 40037 bad template, 47003 bad data, ...)
# rejects this particular message: a retry would be answered the same way.

_REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached token is no longer used
_MAX_CLIENT_MSG_ID = 64


class _TokenExpiredError(Exception):
    """WeChat rejected the access token; the caller decides whether to refetch and retry."""


def client_msg_id_for(idempotency_key: str) -> str:
    """The key itself when short enough; else a stable digest (WeChat limits the field's length)."""
    if len(idempotency_key) <= _MAX_CLIENT_MSG_ID and idempotency_key.isascii():
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


class WeChatTemplateChannel:
    """Sends a WeChat template message to an openid; caches the access token between sends."""

    name = "wechat"

    def __init__(
        self,
        base_url: str,
        appid: str,
        secret: str,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self._secret = secret
        self.timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_valid_until = 0.0

    def __repr__(self) -> str:  # no secret in reprs or logs
        return f"WeChatTemplateChannel(base_url={self.base_url!r}, appid={self.appid!r})"

    def close(self) -> None:
        """Closes the HTTP client if this channel created it (a client passed in belongs to the caller)."""
        if self._owns_client:
            self._client.close()

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if not message.provider_template:
            raise PermanentChannelError(f"WeChat template message {message.template_key!r} has no provider_template id")
        payload = {
            "touser": message.address,
            "template_id": message.provider_template,
            "data": {key: {"value": value} for key, value in message.fields.items()},
            "client_msg_id": client_msg_id_for(message.idempotency_key),
        }
        try:
            return self._send_with(self._access_token(), payload)
        except _TokenExpiredError:
            pass  # the message was not sent and the stale token is dropped: one retry with a fresh token is safe
        try:
            return self._send_with(self._access_token(), payload)
        except _TokenExpiredError as exc:
            raise TransientChannelError(f"WeChat rejected a freshly fetched access token: {exc}") from exc

    def _send_with(self, token: str, payload: dict[str, Any]) -> DeliveryReceipt:
        data = self._call("POST", "/cgi-bin/message/template/send", {"access_token": token}, payload)
        errcode = _errcode(data)
        if errcode == 0:
            msgid = data.get("msgid")
            log.info("wechat template %s sent msgid=%s", payload["template_id"], msgid)
            return DeliveryReceipt(provider_id=None if msgid is None else str(msgid), detail="errcode 0")
        detail = f"WeChat errcode {errcode}: {data.get('errmsg', '')}"
        if errcode in TOKEN_CODES:
            with self._lock:
                if self._token == token:
                    self._token = None
            raise _TokenExpiredError(detail)
        log.warning("wechat template %s failed: %s", payload["template_id"], detail)
        if errcode in BUSY_CODES:
            raise TransientChannelError(detail)
        raise PermanentChannelError(detail)

    def _access_token(self) -> str:
        with self._lock:  # one fetch at a time: concurrent fetches would invalidate each other's tokens
            if self._token is not None and self._clock() < self._token_valid_until:
                return self._token
            params = {"grant_type": "client_credential", "appid": self.appid, "secret": self._secret}
            data = self._call("GET", "/cgi-bin/token", params, None)
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                # Bad appid/secret or IP not whitelisted is a channel problem, not this message's:
                # keep the message for a retry once the configuration is fixed.
                raise TransientChannelError(f"WeChat refused an access token: errcode {_errcode(data)} {data.get('errmsg', '')}")
            try:
                expires_in = float(data.get("expires_in", 7200))
            except (TypeError, ValueError):
                expires_in = 7200.0  # WeChat's documented lifetime
            self._token = token
            self._token_valid_until = self._clock() + max(0.0, expires_in - min(_REFRESH_MARGIN, expires_in / 10))
            log.info("wechat access token fetched for appid=%s, expires_in=%s", self.appid, expires_in)
            return token

    def _call(self, method: str, path: str, params: dict[str, str], payload: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._client.request(method, self.base_url + path, params=params, json=payload, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise TransientChannelError(f"WeChat API timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientChannelError(f"WeChat API unreachable ({type(exc).__name__})") from exc
        if response.status_code != 200:
            raise TransientChannelError(f"WeChat API answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientChannelError("WeChat API answered with a body that is not JSON") from exc
        if not isinstance(data, dict):
            raise TransientChannelError("WeChat API answered with JSON that is not an object")
        return data


def _errcode(data: dict[str, Any]) -> int:
    try:
        return int(data.get("errcode", 0))
    except (TypeError, ValueError):
        return -1
