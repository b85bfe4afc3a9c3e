"""Core banking over HTTP: ``GET {base_url}/customers?since=ISO&cursor=…`` → ``{"items": [...], "next_cursor"}``.

Authentication is a bearer token, or an HMAC-SHA256 signature over ``METHOD\\nPATH?QUERY\\nTIMESTAMP``
sent as ``X-Timestamp`` and ``X-Signature`` (the same scheme as the SMS gateway, docs/architecture.md §1: the
secret never travels). Failures raise :class:`engine.errors.IntegrationError` saying whether a retry
may help (timeouts, 429, 5xx) or not (other 4xx, a malformed page).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from engine.clock import Clock, SystemClock
from engine.errors import IntegrationError

log = logging.getLogger(__name__)
_RETRYABLE = frozenset({408, 429})


def signature(secret: str, method: str, path_and_query: str, timestamp: str) -> str:
    message = f"{method.upper()}\n{path_and_query}\n{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class HttpCoreBanking:
    """Pages through the core-banking customer feed; give ``token`` (bearer) or ``hmac_secret``."""

    name = "core-banking-http"

    def __init__(self, base_url: str, *, token: str | None = None, hmac_secret: str | None = None,
                 page_size: int = 200, timeout: float = 10.0, client: httpx.Client | None = None,
                 clock: Clock | None = None) -> None:
        if bool(token) == bool(hmac_secret):
            raise ValueError("give exactly one of token (bearer) or hmac_secret")
        self.base_url = base_url.rstrip("/")
        self._token, self._secret = token, hmac_secret
        self.page_size = page_size
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._clock = clock if clock is not None else SystemClock()

    def __repr__(self) -> str:  # no secrets in reprs or logs
        return f"HttpCoreBanking(base_url={self.base_url!r})"

    def fetch_customers(self, since: datetime | None = None) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params: dict[str, str] = {"limit": str(self.page_size)}
            if since is not None:
                params["since"] = since.isoformat()
            if cursor:
                params["cursor"] = cursor
            page = self._get("/customers", params)
            items = page.get("items")
            if not isinstance(items, list):
                raise IntegrationError("core banking answered a page without an items list", retryable=False)
            yield from (item for item in items if isinstance(item, dict))
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        request = self._client.build_request("GET", self.base_url + path, params=params)
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        else:
            assert self._secret is not None
            stamp = str(int(self._clock.now().timestamp()))
            target = request.url.raw_path.decode("ascii")
            request.headers["X-Timestamp"] = stamp
            request.headers["X-Signature"] = signature(self._secret, "GET", target, stamp)
        try:
            response = self._client.send(request)
        except httpx.TransportError as exc:
            log.warning("core banking unreachable: %s", type(exc).__name__)
            raise IntegrationError(f"core banking unreachable ({type(exc).__name__})", retryable=True) from exc
        if response.status_code >= 500 or response.status_code in _RETRYABLE:
            raise IntegrationError(f"core banking answered HTTP {response.status_code}", retryable=True)
        if response.status_code >= 400:
            raise IntegrationError(f"core banking refused the request: HTTP {response.status_code}", retryable=False)
        try:
            data = response.json()
        except ValueError as exc:
            raise IntegrationError("core banking answered something that is not JSON", retryable=False) from exc
        if not isinstance(data, dict):
            raise IntegrationError("core banking answered JSON that is not an object", retryable=False)
        return data
