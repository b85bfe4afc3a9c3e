"""A real local HTTP server standing in for the bank's SMS gateway and the WeChat API.

Why a real server rather than a mocked transport: the channel adapters are tested through the
whole HTTP stack (serialisation, headers, signature over the exact bytes, status handling), so
what the fake accepts is what a real socket carried.

Routes: ``POST /sms`` (signed JSON, de-duplicated by ``Idempotency-Key``), ``GET /cgi-bin/token``
and ``POST /cgi-bin/message/template/send`` (de-duplicated, like WeChat, by openid + client_msg_id).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeGateway:
    """Use as ``with FakeGateway() as gw:``; ``gw.sms_url`` and ``gw.base_url`` point at it."""

    def __init__(
        self, sms_secret: str = "sms-secret", appid: str = "wx-app", app_secret: str = "wx-secret", token_ttl: int = 7200
    ) -> None:
        self.sms_secret = sms_secret
        self.appid = appid
        self.app_secret = app_secret
        self.token_ttl = token_ttl
        self.sms_messages: list[dict[str, Any]] = []  # accepted SMS payloads (plus received headers)
        self.wechat_messages: list[dict[str, Any]] = []  # accepted template-message payloads
        self.tokens_issued = 0
        self.unsubscribed: set[str] = set()  # openids answered with 43004
        self._valid_tokens: set[str] = set()
        self._sms_ids: dict[str, str] = {}  # Idempotency-Key -> first id
        self._wechat_ids: dict[tuple[str, str], int] = {}  # (openid, client_msg_id) -> first msgid
        self._http_failures: list[int] = []  # injected statuses, one per request
        self._wechat_failures: list[int] = []  # injected errcodes, one per template send
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval only makes shutdown() prompt; requests are served as they arrive.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), name="fake-gateway", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def sms_url(self) -> str:
        return self.base_url + "/sms"

    def start(self) -> FakeGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- failure injection ------------------------------------------------------------------
    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` requests (any route) are answered with HTTP ``status`` and not processed."""
        with self.lock:
            self._http_failures.extend([status] * n)

    def wechat_fail_next(self, n: int, errcode: int = -1) -> None:
        """The next ``n`` template sends are answered HTTP 200 with this ``errcode`` and not recorded."""
        with self.lock:
            self._wechat_failures.extend([errcode] * n)

    def expire_tokens(self) -> None:
        """Every access token issued so far becomes expired (errcode 42001), as after WeChat's 2 hours."""
        with self.lock:
            self._valid_tokens.clear()

    # -- request handling (called from server threads) ---------------------------------------
    def _injected_status(self) -> int | None:
        with self.lock:
            return self._http_failures.pop(0) if self._http_failures else None

    def handle_sms(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        expected = hmac.new(self.sms_secret.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-signature", "")):
            return 401, {"error": "bad signature"}
        key = headers.get("idempotency-key", "")
        try:
            payload = json.loads(raw)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not key or not headers.get("x-timestamp", "").isdigit() or not {"to", "text", "idempotency_key"} <= set(payload):
            return 400, {"error": "missing field or header"}
        with self.lock:
            if key in self._sms_ids:
                return 200, {"id": self._sms_ids[key], "duplicate": True}
            message_id = f"sms-{len(self._sms_ids) + 1}"
            self._sms_ids[key] = message_id
            self.sms_messages.append({**payload, "id": message_id, "timestamp": headers["x-timestamp"]})
        return 200, {"id": message_id}

    def handle_token(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("secret") != self.app_secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        with self.lock:
            self.tokens_issued += 1
            token = f"token-{self.tokens_issued}"
            self._valid_tokens.add(token)
        return {"access_token": token, "expires_in": self.token_ttl}

    def handle_template(self, query: dict[str, str], raw: bytes) -> dict[str, Any]:
        payload = json.loads(raw)
        with self.lock:
            token = query.get("access_token", "")
            if token not in self._valid_tokens:
                expired = token.startswith("token-") and int(token.split("-")[1]) <= self.tokens_issued
                return (
                    {"errcode": 42001, "errmsg": "access_token expired"}
                    if expired
                    else {"errcode": 40001, "errmsg": "invalid credential"}
                )
            if self._wechat_failures:
                errcode = self._wechat_failures.pop(0)
                return {"errcode": errcode, "errmsg": f"injected {errcode}"}
            openid, template_id = payload.get("touser", ""), payload.get("template_id", "")
            if not openid:
                return {"errcode": 40003, "errmsg": "invalid openid"}
            if not template_id:
                return {"errcode": 40037, "errmsg": "invalid template_id"}
            if openid in self.unsubscribed:
                return {"errcode": 43004, "errmsg": "require subscribe"}
            dedupe = (openid, str(payload.get("client_msg_id", "")))
            if dedupe[1] and dedupe in self._wechat_ids:
                return {"errcode": 0, "errmsg": "ok", "msgid": self._wechat_ids[dedupe]}
            msgid = 1000 + len(self.wechat_messages) + 1
            if dedupe[1]:
                self._wechat_ids[dedupe] = msgid
            self.wechat_messages.append({**payload, "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def _handler_for(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects from a real server
        disable_nagle_algorithm = True  # headers and body go out as two writes; no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep test output clean

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            injected = gateway._injected_status()
            if injected is not None:
                self._reply(injected, {"error": f"injected {injected}"})
                return
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            headers = {key.lower(): value for key, value in self.headers.items()}
            if (method, url.path) == ("POST", "/sms"):
                self._reply(*gateway.handle_sms(headers, raw))
            elif (method, url.path) == ("GET", "/cgi-bin/token"):
                self._reply(200, gateway.handle_token(query))
            elif (method, url.path) == ("POST", "/cgi-bin/message/template/send"):
                self._reply(200, gateway.handle_template(query, raw))
            else:
                self._reply(404, {"error": "no such route"})

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            self._route("POST")

    return Handler
