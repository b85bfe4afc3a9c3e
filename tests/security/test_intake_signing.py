"""Finding 11: a captured or future-dated signed intake request is worthless, and a channel rotates its secret
without a moment where either secret is wrong.

- a timestamp may lie at most 60 s behind and 30 s ahead of the server's clock (it was ±300 s);
- the same signed request again is 409 ``replayed_request``, and does not count against the channel's rate limit
  (replaying captured traffic used up the channel's 60 a minute);
- a second secret is added beside the first (it used to replace it silently), and the first is retired explicitly;
  both steps are audited, from the CLI as from the service.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.db.models import AuditEvent
from tests.web.test_complaint_intake import APP_SECRET, BODY, WECHAT_SECRET, client, signed  # noqa: F401

ROTATED = "wechat-rotated-secret-0123456789abcdef"


def _post(client, ctx, body=BODY, **kw):  # noqa: F811
    return client.post("/api/v1/complaints", **signed(ctx, body, **kw))


@pytest.mark.parametrize("skew", [31, 120, 299, -61, -299])
def test_timestamps_outside_the_tight_window_are_refused(client, ctx, skew):  # noqa: F811
    response = _post(client, ctx, at=int(ctx.clock.now().timestamp()) + skew)
    assert response.status_code == 401, response.json
    assert response.json["error"]["message"]


@pytest.mark.parametrize("skew", [30, -60])
def test_timestamps_at_the_edges_of_the_window_pass(client, ctx, skew):  # noqa: F811
    assert _post(client, ctx, at=int(ctx.clock.now().timestamp()) + skew).status_code == 201


def test_a_replayed_request_is_409_and_does_not_use_up_the_rate_limit(client, ctx):  # noqa: F811
    request = signed(ctx, BODY)
    assert client.post("/api/v1/complaints", **request).status_code == 201
    for _ in range(70):  # more than the channel's 60 a minute
        again = client.post("/api/v1/complaints", **request)
        assert again.status_code == 409 and again.json["error"]["code"] == "replayed_request", again.json
    fresh = _post(client, ctx, {**BODY, "message_id": "wx-msg-0002"})
    assert fresh.status_code == 201, fresh.json  # the channel's budget is untouched


def test_a_replay_is_refused_by_every_worker_while_its_timestamp_is_valid(client, ctx, clock):  # noqa: F811
    request = signed(ctx, BODY)
    assert client.post("/api/v1/complaints", **request).status_code == 201
    clock.advance(timedelta(seconds=59))
    assert client.post("/api/v1/complaints", **request).status_code == 409
    clock.advance(timedelta(seconds=2))
    assert client.post("/api/v1/complaints", **request).status_code == 401  # stale now


def test_a_channel_rotates_its_secret_with_an_overlap(client, ctx):  # noqa: F811
    from engine.complaints import intake as intake_auth

    view, secret = intake_auth.add_secret(ctx, "wechat", by="root", secret=ROTATED, label="2026-12 rotation")
    assert secret == ROTATED and view.fingerprint and ROTATED not in repr(view)
    old = _post(client, ctx, {**BODY, "message_id": "old-key"})
    new = _post(client, ctx, {**BODY, "message_id": "new-key"}, secret=ROTATED)
    assert (old.status_code, new.status_code) == (201, 201), (old.json, new.json)
    second, _ = intake_auth.add_secret(ctx, "wechat", by="root", secret=ROTATED + "-2")
    intake_auth.retire_secret(ctx, view.id, by="root")
    assert _post(client, ctx, {**BODY, "message_id": "retired"}, secret=ROTATED).status_code == 401
    assert _post(client, ctx, {**BODY, "message_id": "still"}, secret=ROTATED + "-2").status_code == 201
    with ctx.sessions() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.stream == "intake")).all()
    assert actions == ["intake.secret_added", "intake.secret_added", "intake.secret_retired"]
    assert [s.id for s in intake_auth.list_secrets(ctx)] == [second.id]


def test_two_configured_secrets_for_one_channel_are_both_valid(client, ctx):  # noqa: F811
    import dataclasses

    secrets = (("wechat", WECHAT_SECRET), ("wechat", ROTATED))
    ctx.settings = dataclasses.replace(ctx.settings, intake=dataclasses.replace(ctx.settings.intake, secrets=secrets))
    assert _post(client, ctx, {**BODY, "message_id": "first"}).status_code == 201
    assert _post(client, ctx, {**BODY, "message_id": "second"}, secret=ROTATED).status_code == 201


def test_the_cli_adds_lists_and_retires_secrets(ctx, people, monkeypatch, settings):
    from click.testing import CliRunner

    from engine.complaints import intake as intake_auth
    from tests.conftest import TEST_DATA_KEY
    from web.cli import main

    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", TEST_DATA_KEY)
    runner = CliRunner()
    added = runner.invoke(main, ["intake", "secret", "add", "wechat", "--label", "rotation"])
    assert added.exit_code == 0, added.output
    [view] = intake_auth.list_secrets(ctx)
    assert view.fingerprint in added.output and view.created_by == "cli"
    listed = runner.invoke(main, ["intake", "secret", "list"])
    assert view.fingerprint in listed.output and "rotation" in listed.output
    retired = runner.invoke(main, ["intake", "secret", "retire", str(view.id)])
    assert retired.exit_code == 0, retired.output
    assert intake_auth.list_secrets(ctx) == []
    unknown = runner.invoke(main, ["intake", "secret", "add", "carrier_pigeon"])
    assert unknown.exit_code != 0 and "unknown channel" in unknown.output
