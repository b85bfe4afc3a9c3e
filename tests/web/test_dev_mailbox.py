"""/dev/mailbox: the portal's sign-in code can be read after `make run`, and only on this machine, only in development."""

from __future__ import annotations

import re

import pytest

from engine.outbox.dispatch import dispatch_due
from integrations.channels.sandbox import SandboxChannel
from tests.support.care import add_customers, customer
from tests.support.portal import csrf, deploy_complaints
from web import create_app

PHONE = "13912345678"


@pytest.fixture
def mailbox(tmp_path, monkeypatch):
    path = tmp_path / "dev-mailbox.jsonl"
    monkeypatch.setenv("CAREFLOW_CHANNEL_SANDBOX", "sms,email")
    monkeypatch.setenv("CAREFLOW_DEV_MAILBOX", str(path))
    return path


@pytest.fixture
def app(ctx, people, mailbox):
    ctx.register_channel(SandboxChannel("sms", mailbox, ctx.clock))
    add_customers(ctx, customer("C1001", name="王建国", phone=PHONE))
    deploy_complaints(ctx)
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _request_code(client) -> None:
    token = csrf(client.get("/portal/login").get_data(as_text=True))
    assert client.post("/portal/login", data={"csrf_token": token, "step": "phone", "phone": PHONE}).status_code == 200


def test_the_sign_in_code_is_readable_in_the_mailbox_and_signs_in(app, ctx):
    client = app.test_client()
    _request_code(client)
    dispatch_due(ctx)  # the scheduler's outbox round
    page = client.get("/dev/mailbox", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "139****5678" in page and PHONE not in page  # the number masked, the code in clear
    digits = re.search(r'class="mailbox-body">[^<]*?(\d{6})', page).group(1)  # type: ignore[union-attr]
    token = csrf(client.get("/portal/login").get_data(as_text=True))
    done = client.post("/portal/login", data={"csrf_token": token, "step": "code", "phone": PHONE, "code": digits})
    assert done.status_code == 302 and done.headers["Location"].endswith("/portal/complaints")


@pytest.mark.parametrize("environ, headers", [
    ({"REMOTE_ADDR": "10.1.2.3"}, {}),  # another machine
    ({"REMOTE_ADDR": "127.0.0.1"}, {"X-Forwarded-For": "203.0.113.9"}),  # through a proxy on this machine
])
def test_the_mailbox_is_not_there_for_anyone_else(app, environ, headers):
    _request_code(app.test_client())
    assert app.test_client().get("/dev/mailbox", environ_base=environ, headers=headers).status_code == 404


def test_without_sandbox_channels_there_is_no_mailbox(app, monkeypatch):
    monkeypatch.delenv("CAREFLOW_CHANNEL_SANDBOX")
    assert app.test_client().get("/dev/mailbox", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404
