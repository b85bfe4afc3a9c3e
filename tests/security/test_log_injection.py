"""Finding 10: nobody can write a line of their choosing into the logs.

A ``%0d%0a`` in a request path used to end the access-log line and start a forged one; bytes that are not UTF-8 were
written as they came. The real server (``careflow serve``) is started and its log read back; the app's own logging
goes through the same escaping (``web.logsafe``).
"""

from __future__ import annotations

import logging
import time

import httpx

from tests.security.test_runaway_server import server  # noqa: F401  (the real server, as a fixture)

FORGED = '[2026-12-07 10:00:00 +0000] 10.0.0.1 "POST /api/v1/admin/grant HTTP/1.1" 200 1.0ms'


def test_a_crlf_in_the_path_does_not_forge_an_access_log_line(server, tmp_path):  # noqa: F811
    raw = "/x%0d%0a" + FORGED.replace(" ", "%20").replace('"', "%22") + "%0d%0aend-crlf"
    with httpx.Client(base_url=server, timeout=10) as http:
        http.get(raw)
        http.get("/y%ff%fe-end-bytes")
        http.get("/healthz?after=1")
    log = (tmp_path / "stdout.log")
    deadline = time.monotonic() + 10
    while b"/healthz" not in log.read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    content = log.read_bytes()
    lines = content.splitlines()
    assert not any(line.startswith(b"[2026-12-07 10:00:00") for line in lines), content[-2000:]
    assert not any(b"end-crlf" in line and b"/x" not in line for line in lines), content[-2000:]
    content.decode("utf-8")  # strict: every byte written is UTF-8
    assert any(b"end-bytes" in line and b"\\x" in line for line in lines), content[-2000:]


def test_escape_keeps_text_and_escapes_control_characters_and_bad_bytes():
    from web.logsafe import escape

    assert escape("客户 ok") == "客户 ok"
    assert escape("a\r\nb\x1b[31m\x00\u2028") == "a\\r\\nb\\x1b[31m\\x00\\u2028"
    assert escape("bad \udcff surrogate \ud800") == "bad \\udcff surrogate \\ud800"


def test_app_log_records_are_escaped():
    from web.logsafe import SafeFormatter

    formatter = SafeFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("careflow", logging.WARNING, __file__, 1, "user %s failed", ("eve\nINFO forged",), None)
    assert formatter.format(record) == "WARNING user eve\\nINFO forged failed"
    try:
        raise ValueError("bad input\nERROR forged line")
    except ValueError:
        import sys

        failed = logging.LogRecord("careflow", logging.ERROR, __file__, 1, "step failed", (), sys.exc_info())
    lines = formatter.format(failed).split("\n")
    assert lines[0] == "ERROR step failed" and all(line.startswith("    ") for line in lines[1:])
    assert not any(line.startswith("ERROR forged") for line in lines)


def test_the_server_logs_through_the_escaping_formatters():
    from web.logsafe import ACCESS_LOG_CONFIG

    formatters = {name: spec["()"] for name, spec in ACCESS_LOG_CONFIG["formatters"].items()}
    handlers = ACCESS_LOG_CONFIG["handlers"]
    used = [handlers[h]["formatter"] for logger in [*ACCESS_LOG_CONFIG["loggers"].values(), ACCESS_LOG_CONFIG["root"]]
            for h in logger["handlers"]]
    assert used and all(formatters[name].startswith("web.logsafe.") for name in used)
