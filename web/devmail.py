"""``/dev/mailbox``: what the development sandbox channels "sent" (integrations.channels.sandbox).

For evaluating CareFlow after ``make run``: the portal's sign-in code arrives here instead of on a phone. The page
exists only while sandbox channels are on (``CAREFLOW_CHANNEL_SANDBOX``) and answers only a browser on the same
machine (loopback, and no proxy in front: a forwarded request is refused); anywhere else it is a 404, as if it did
not exist.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from flask import Blueprint, abort, render_template, request

from integrations.channels.sandbox import read_mailbox, sandbox_channels

bp = Blueprint("devmail", __name__, url_prefix="/dev")


def _allowed() -> bool:
    if not sandbox_channels() or "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/mailbox")
def mailbox() -> Any:
    if not _allowed():
        abort(404)
    return render_template("dev_mailbox.html", messages=read_mailbox(), channels=sandbox_channels())
