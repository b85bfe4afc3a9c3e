"""A request id on every request: taken from the caller's ``X-Request-ID`` when it is a plain token (a proxy or
load balancer that set one keeps its id through CareFlow's logs), else made here; sent back in the answer's
``X-Request-ID`` and written on every log line the request causes (the JSON log format's ``request_id``,
``web.logsafe``). A header that is not a short token of letters, digits, ``-``, ``_`` and ``.`` is replaced, never
copied: a log line must not carry what a caller chose to write into it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("careflow_request_id", default=None)


def current() -> str | None:
    """The id of the request this thread serves, or None outside a request."""
    return _current.get()


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_answer)
    app.teardown_request(_end)


def _begin() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _TOKEN.fullmatch(given) else uuid.uuid4().hex
    g.request_id_token = _current.set(g.request_id)


def _answer(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response


def _end(_error: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record (``-`` outside a request), for formats that name it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
