"""Log lines that say only what happened: control characters and bytes that are not UTF-8 written as escapes.

Why: a log line is read by people and by tools that split on newlines. A request path holding ``%0d%0a`` used to end
the access-log line and start a forged one ("admin 200"), and a path's invalid UTF-8 bytes were written out as they
came (as Latin-1 mojibake). Every record goes through :func:`escape` after formatting, so no argument — a path, a
user name, an error message quoting user input — can break a line.

:data:`ACCESS_LOG_CONFIG` is the ``logging.config.dictConfig`` for granian (``web.server``); :func:`configure` sets up
the same formatter for the app's and the scheduler's own logs.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

# C0 and C1 controls, DEL, lone surrogates (from undecodable bytes), and the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
APP_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def escape(text: str) -> str:
    """``text`` with every character that could break or fake a log line written as a Python-style escape."""
    return _UNSAFE.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def wsgi_text(value: str) -> str:
    """A WSGI string (bytes carried as Latin-1) as the UTF-8 text it was, undecodable bytes as ``\\xNN``."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # already text
    return raw.decode("utf-8", "backslashreplace")


class SafeFormatter(logging.Formatter):
    """Each record's line escaped; a traceback follows on lines of its own, each indented and escaped, so text quoted
    in an exception message cannot start a line of its own either."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return escape(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("    " + escape(line) for line in text.split("\n"))


class AccessFormatter(SafeFormatter):
    """Granian's access records: the path is a WSGI string, decoded as UTF-8 before escaping."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.args, dict):
            record.args = {key: wsgi_text(value) if key in ("path", "query_string") and isinstance(value, str)
                           else value for key, value in record.args.items()}
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``CAREFLOW_LOG_FORMAT=json``): time (UTC, ISO 8601), level, logger, message, the
    request id (``web.request_id``) and, when there is one, the traceback. ``json.dumps`` escapes every control
    character, so no argument can break the line either."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def _request_id() -> str | None:
    from web.request_id import current

    return current()


ACCESS_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "generic": {"()": "web.logsafe.SafeFormatter", "fmt": "[%(levelname)s] %(message)s"},
        "access": {"()": "web.logsafe.AccessFormatter", "fmt": "%(message)s"},
        "app": {"()": "web.logsafe.SafeFormatter", "fmt": APP_FORMAT},
    },
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        "app": {"formatter": "app", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
    # The app's own loggers (engine.*, web.*) in each worker: warnings and errors, as Python's last resort wrote them.
    "root": {"handlers": ["app"], "level": "WARNING"},
    "loggers": {
        "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def log_config(json_lines: bool) -> dict[str, Any]:
    """granian's ``log_dictconfig``: :data:`ACCESS_LOG_CONFIG`, with the app's lines as JSON when asked for
    (granian's own access lines keep their format: granian writes them itself)."""
    if not json_lines:
        return ACCESS_LOG_CONFIG
    config = json.loads(json.dumps(ACCESS_LOG_CONFIG))
    config["formatters"]["app"] = {"()": "web.logsafe.JsonFormatter"}
    return config


def configure(level: int = logging.INFO, *, json_lines: bool = False) -> None:
    """The root logger writes escaped lines, or JSON objects (the scheduler process, and the app's loggers under
    the server)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else SafeFormatter(APP_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
