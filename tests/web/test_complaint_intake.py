"""POST /api/v1/complaints: HMAC-signed channel intake (good, bad, stale, replayed), staff entry, 422s, rate limits."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from engine.services import identity
from tests.support.portal import deploy_complaints
from web import create_app
from web.complaints.api import signature

WECHAT_SECRET = "wechat-secret-for-tests-0123456789"
APP_SECRET = "app-secret-for-tests-9876543210"
BODY = {"message_id": "wx-msg-0001", "business_type": "bank_cards", "cause": "service_attitude",
        "summary": "网点柜员态度恶劣", "facts": "3月1日在朝阳支行办理挂失时被柜员呵斥", "request": "道歉",
        "complainant_name": "王建国", "complainant_phone": "13912345678", "amount": "120.50"}


@pytest.fixture
def client(ctx, people):
    secrets = (("wechat", WECHAT_SECRET), ("mobile_app", APP_SECRET))
    ctx.settings = dataclasses.replace(ctx.settings, intake=dataclasses.replace(ctx.settings.intake, secrets=secrets))
    deploy_complaints(ctx)
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


def signed(ctx, body: dict | bytes, *, channel: str = "wechat", secret: str = WECHAT_SECRET, at: int | None = None,
           **override: str) -> dict:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = at if at is not None else int(ctx.clock.now().timestamp())
    headers = {"X-CareFlow-Channel": channel, "X-CareFlow-Timestamp": str(stamp),
               "X-CareFlow-Signature": signature(secret, stamp, raw), "Content-Type": "application/json", **override}
    return {"data": raw, "headers": headers}


def test_a_signed_wechat_complaint_opens_a_case(client, ctx, people):
    response = client.post("/api/v1/complaints", **signed(ctx, BODY))
    assert response.status_code == 201, response.json
    case_no = response.json["case_no"]
    assert case_no.startswith("TS20250303") and response.json["created"] is True
    assert response.json["target_due_on"] == "2025-03-18"  # 15 calendar days after receipt (docs/domain.md §1.4)
    token = identity.create_token(ctx, username="alice")
    case = client.get(f"/api/v1/complaints/{case_no}", headers={"Authorization": f"Bearer {token}"})
    assert case.status_code == 200
    assert (case.json["channel"], case.json["business_type"], case.json["cause"]) == ("wechat", "bank_cards",
                                                                                     "service_attitude")
    assert case.json["complainant_name"] == "王*国"  # masked
    assert "13912345678" not in case.get_data(as_text=True)


def test_a_replayed_message_returns_the_first_case(client, ctx, clock):
    first = client.post("/api/v1/complaints", **signed(ctx, BODY))
    clock.advance(timedelta(minutes=2))  # the channel retries later, freshly signed
    again = client.post("/api/v1/complaints", **signed(ctx, {**BODY, "summary": "重发"}))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["case_no"] == first.json["case_no"] and again.json["created"] is False
    other = client.post("/api/v1/complaints", **signed(ctx, {**BODY, "message_id": "app-1"}, channel="mobile_app",
                                                        secret=APP_SECRET))
    assert other.status_code == 201 and other.json["case_no"] != first.json["case_no"]  # ids are per channel


@pytest.mark.parametrize("tamper", ["signature", "secret", "channel", "body", "missing"])
def test_a_bad_signature_is_401(client, ctx, tamper):
    request = signed(ctx, BODY)
    if tamper == "signature":
        request["headers"]["X-CareFlow-Signature"] = "0" * 64
    elif tamper == "secret":
        request = signed(ctx, BODY, secret=APP_SECRET)
    elif tamper == "channel":
        request = signed(ctx, BODY, channel="letter")  # a real channel code without a secret
    elif tamper == "body":
        request["data"] = request["data"].replace(b"120.50", b"99999.00")
    else:
        del request["headers"]["X-CareFlow-Signature"]
    response = client.post("/api/v1/complaints", **request)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("skew", [-61, 31])
def test_a_stale_or_future_timestamp_is_401(client, ctx, skew):
    stamp = int(ctx.clock.now().timestamp()) + skew
    response = client.post("/api/v1/complaints", **signed(ctx, BODY, at=stamp))
    assert response.status_code == 401
    assert "check the sender's clock" in response.json["error"]["message"]


def test_a_timestamp_within_the_window_is_accepted(client, ctx):
    stamp = int(ctx.clock.now().timestamp()) - 59
    assert client.post("/api/v1/complaints", **signed(ctx, BODY, at=stamp)).status_code == 201


def test_bad_data_is_422_with_field_errors(client, ctx):
    bad = {**BODY, "business_type": "lottery", "summary": "", "amount": "-5", "group_size": 0}
    del bad["cause"]
    response = client.post("/api/v1/complaints", **signed(ctx, bad))
    assert response.status_code == 422
    fields = response.json["error"]["details"]["fields"]
    assert set(fields) == {"business_type", "cause", "summary", "amount", "group_size"}
    no_id = {k: v for k, v in BODY.items() if k != "message_id"}
    response = client.post("/api/v1/complaints", **signed(ctx, no_id))
    assert response.status_code == 422 and set(response.json["error"]["details"]["fields"]) == {"message_id"}
    other_channel = client.post("/api/v1/complaints", **signed(ctx, {**BODY, "channel": "mobile_app"}))
    assert other_channel.status_code == 422 and "channel" in other_channel.json["error"]["details"]["fields"]
    not_json = client.post("/api/v1/complaints", **signed(ctx, b"[1, 2]"))
    assert not_json.status_code == 422


def test_each_channel_is_rate_limited(client, ctx, clock):
    for n in range(60):  # each request its own (the same signed request again is a replay, not counted)
        assert client.post("/api/v1/complaints", **signed(ctx, {"summary": "", "n": n})).status_code == 422
    limited = client.post("/api/v1/complaints", **signed(ctx, BODY))
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "61"
    app = client.post("/api/v1/complaints", **signed(ctx, {**BODY, "message_id": "a-1"}, channel="mobile_app",
                                                     secret=APP_SECRET))
    assert app.status_code == 201  # another channel's budget
    clock.advance(timedelta(seconds=61))
    assert client.post("/api/v1/complaints", **signed(ctx, BODY)).status_code == 201


def test_staff_enter_phone_complaints_with_their_token(client, ctx, people):
    token = identity.create_token(ctx, username="carol")
    body = {k: v for k, v in BODY.items() if k != "message_id"} | {"channel": "branch_counter"}
    response = client.post("/api/v1/complaints", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201 and response.json["status"]
    missing = client.post("/api/v1/complaints", json={**body, "channel": None}, headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 422 and set(missing.json["error"]["details"]["fields"]) == {"channel"}
    designer = identity.create_token(ctx, username="dora")
    assert client.post("/api/v1/complaints", json=body, headers={"Authorization": f"Bearer {designer}"}).status_code == 403
    assert client.post("/api/v1/complaints", json=body).status_code == 401


def test_channel_secrets_come_from_the_environment():
    from engine.config import Settings
    from engine.errors import ConfigurationError

    settings = Settings.from_env({"CAREFLOW_INTAKE_SECRETS": f"wechat:{WECHAT_SECRET}, mobile_app:{APP_SECRET}"})
    assert settings.intake.secrets == (("wechat", WECHAT_SECRET), ("mobile_app", APP_SECRET))
    assert WECHAT_SECRET not in repr(settings)  # never in logs
    for bad in ("wechat", "wechat:short", ":" + WECHAT_SECRET):
        with pytest.raises(ConfigurationError):
            Settings.from_env({"CAREFLOW_INTAKE_SECRETS": bad})
