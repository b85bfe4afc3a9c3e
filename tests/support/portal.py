"""Complaint intake and portal helpers: deploy the complaint process, sign a customer in with a real code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask

from engine.context import EngineContext
from engine.outbox.dispatch import dispatch_due
from tests.support.care import RecordingChannel
from tests.support.engine import deploy

ROOT = Path(__file__).resolve().parents[2]


def deploy_complaints(ctx: EngineContext) -> None:
    """The real complaint_handling process with its DMN files and forms."""
    files = [(p.name, p.read_bytes()) for p in sorted((ROOT / "processes").glob("complaint*.*"))
             if p.suffix in (".bpmn", ".dmn")]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("complaint*.json"))]
    deploy(ctx, *files, process_key="complaint_handling")


def latest_code(ctx: EngineContext, sms: RecordingChannel) -> str:
    """Send what is due and read the code out of the last SMS the channel carried."""
    dispatch_due(ctx)
    body = [m for m in sms.delivered.values() if m.template_key == "one_time_code"][-1].body
    found = re.search(r"(\d{6})", body)
    assert found, body
    return found.group(1)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def portal_login(app: Flask, ctx: EngineContext, sms: RecordingChannel, phone: str) -> tuple[Any, str]:
    """A test client signed in to the portal as the customer with ``phone``, and its CSRF token."""
    client = app.test_client()
    token = csrf(client.get("/portal/login").get_data(as_text=True))
    sent = client.post("/portal/login", data={"csrf_token": token, "step": "phone", "phone": phone})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    done = client.post("/portal/login", data={"csrf_token": token, "step": "code", "phone": phone,
                                              "code": latest_code(ctx, sms)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/portal/complaints"), done.get_data(as_text=True)
    return client, csrf(client.get("/portal/complaints").get_data(as_text=True))
