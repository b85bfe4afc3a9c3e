"""The careflow command line against the test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.errors import AuthenticationError
from engine.services import identity, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from web.cli import main


@pytest.fixture
def cli(ctx, settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.data_key)
    monkeypatch.delenv("CAREFLOW_ALLOW_CLOCK_OVERRIDE", raising=False)
    return CliRunner()


def test_db_upgrade_user_token_deploy(cli, ctx, tmp_path: Path):
    assert "revision 0011" in cli.invoke(main, ["db", "upgrade"]).output
    result = cli.invoke(main, ["user", "add", "li.na", "--role", "staff", "--group", "service_team",
                               "--password-stdin"], input="secret-pass-1\n")
    assert result.exit_code == 0, result.output
    assert identity.authenticate_password(ctx, "li.na", "secret-pass-1").groups == frozenset({"service_team"})
    token = cli.invoke(main, ["token", "create", "li.na"]).output.strip()
    assert identity.authenticate_token(ctx, token).username == "li.na"
    path = tmp_path / "simple.bpmn"
    path.write_bytes(b.simple_task_process())
    assert cli.invoke(main, ["deploy", str(path)]).output.strip() == "deployed simple v1"
    assert cli.invoke(main, ["deploy", str(path)]).output.strip() == "unchanged simple v1"


def test_timers_fire_needs_the_override_for_now(cli, ctx, monkeypatch):
    xml = b.linear("wait", b.timer_catch("pause", "duration", '"P1D"'), b.user_task("go"))
    from tests.support.engine import deploy, open_tasks

    deploy(ctx, ("wait.bpmn", xml))
    started = instances.start_instance(ctx, process_key="wait", actor=SYSTEM)
    refused = cli.invoke(main, ["timers", "fire", "--now", "2025-03-05T09:00"])
    assert refused.exit_code != 0 and "CAREFLOW_ALLOW_CLOCK_OVERRIDE" in refused.output
    monkeypatch.setenv("CAREFLOW_ALLOW_CLOCK_OVERRIDE", "1")
    fired = cli.invoke(main, ["timers", "fire", "--now", "2025-03-05T09:00"])
    assert fired.output.strip() == '{"fired": 1, "failed": 0}'
    assert [t.task_name for t in open_tasks(ctx, started.id)] == ["go"]


def test_user_update_absent_and_token_revoke(cli, ctx, people):
    out = cli.invoke(main, ["user", "update", "bob", "--skill", "wealth", "--group", "service_team"]).output
    assert "skills wealth" in out
    assert "0 tasks back in the queue" in cli.invoke(main, ["user", "absent", "bob", "--until", "2025-03-09"]).output
    token = identity.create_token(ctx, username="bob")
    assert cli.invoke(main, ["token", "revoke", "bob"]).output.strip() == "revoked 1"
    assert [u.skills for u in identity.list_users(ctx) if u.username == "bob"] == [("wealth",)]
    with pytest.raises(AuthenticationError):
        identity.authenticate_token(ctx, token)
