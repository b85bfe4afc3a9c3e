"""The careflow command line against the test database."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.errors import AuthenticationError, InvalidInputError
from engine.services import calendar, identity, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from web.cli import main


@pytest.fixture
def cli(ctx, settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.privacy.data_key)
    monkeypatch.delenv("CAREFLOW_ALLOW_CLOCK_OVERRIDE", raising=False)
    return CliRunner()


def test_db_upgrade_user_token_deploy(cli, ctx, tmp_path: Path):
    assert "revision 0030" in cli.invoke(main, ["db", "upgrade"]).output
    result = cli.invoke(main, ["user", "add", "li.na", "--role", "staff", "--group", "service_team",
                               "--password-stdin"], input="secret-pass-1\n")
    assert result.exit_code == 0, result.output
    assert identity.authenticate_password(ctx, "li.na", "secret-pass-1").groups == frozenset({"service_team"})
    token = cli.invoke(main, ["token", "create", "li.na"]).stdout.strip()
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


def test_calendar_status_import_set_and_unset(cli, ctx, tmp_path: Path):
    due = cli.invoke(main, ["calendar", "status", "--day", "2026-12-02"])
    assert due.exit_code == 1
    assert "2026: official" in due.output and "2027: estimated" in due.output and "attention: 2027" in due.output
    table = tmp_path / "2027.csv"
    table.write_text("\ufeff2027-02-05..2027-02-11,休,春节\n2027-02-13,班,春节调休上班\n", encoding="utf-8")
    loaded = cli.invoke(main, ["calendar", "import", "2027", str(table), "--source", "国办发明电（示例）"])
    assert loaded.output.strip() == "2027: 7 rest days, 1 shifted working days from 国办发明电（示例）"
    ready = cli.invoke(main, ["calendar", "status", "--day", "2026-12-02"])
    assert ready.exit_code == 0 and "2027: bank (国办发明电（示例）; 7 rest, 1 work)" in ready.output
    assert cli.invoke(main, ["calendar", "set", "2027-03-02", "rest", "--name", "台风停业"]).output.strip() == \
        "2027-03-02: rest 台风停业"
    assert ctx.calendar.is_workday(date(2027, 3, 2)) is False  # a Tuesday
    assert cli.invoke(main, ["calendar", "unset", "2027-03-02"]).output.strip() == "2027-03-02: removed"
    assert date(2027, 3, 2) not in {d.day for d in calendar.list_days(ctx, 2027)}
    bad = tmp_path / "bad.csv"
    bad.write_text("2027-02-30,rest\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        cli.invoke(main, ["calendar", "import", "2027", str(bad), "--source", "x"], catch_exceptions=False)
    assert info.value.details == {"lines": {"1": "'2027-02-30' is not a date (YYYY-MM-DD)"}}


def test_search_reindex_fills_the_index_for_rows_written_around_the_orm(cli, ctx, people):
    from sqlalchemy import delete

    from engine.db.search import SearchToken
    from engine.services.search import search
    from tests.support.care import add_customers, customer

    add_customers(ctx, customer("W1", name="王芳", manager="alice"))
    with ctx.sessions.begin() as session:
        session.execute(delete(SearchToken))
    assert search(ctx, "王芳", actor=people["alice"]).customers == []
    result = cli.invoke(main, ["search", "reindex"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "indexed 1 customers and cases (1 tokens)"
    assert [c.id for c in search(ctx, "王芳", actor=people["alice"]).customers] == ["W1"]
    with ctx.sessions.begin() as session:  # a database upgraded to the index: db upgrade fills it
        session.execute(delete(SearchToken))
    upgraded = cli.invoke(main, ["db", "upgrade"])
    assert "search index built: 1 customers and cases (1 tokens)" in upgraded.output, upgraded.output
    assert "search index built" not in cli.invoke(main, ["db", "upgrade"]).output  # only once


def test_dsr_list_show_answer_and_the_copy(cli, ctx, tmp_path: Path):
    import json

    from engine.dsr import service as dsr
    from engine.views import Actor
    from tests.support.care import add_customers, customer

    add_customers(ctx, customer("C7", name="王建国", phone="13900007777"))
    request_id = dsr.file_request(ctx, "access", actor=Actor("customer:C7", frozenset({"customer"}))).id
    listed = cli.invoke(main, ["dsr", "list"])
    assert listed.exit_code == 0 and listed.output.startswith(f"{request_id}\tC7\t王*国\taccess\tportal\treceived")
    assert json.loads(cli.invoke(main, ["dsr", "show", str(request_id)]).output)["status"] == "received"
    copy = tmp_path / "copy.json"
    answered = cli.invoke(main, ["dsr", "answer", str(request_id), "--answer", "见附件", "--export", str(copy)])
    assert answered.exit_code == 0, answered.output
    assert answered.output.startswith(f"{request_id}\tanswered")
    assert json.loads(copy.read_text(encoding="utf-8"))["customer"]["phone"] == "13900007777"
    assert cli.invoke(main, ["dsr", "list"]).output == ""
    assert cli.invoke(main, ["dsr", "answer", str(request_id)]).exit_code != 0  # already answered


def test_wave_run_in_process_and_worker_refused_on_sqlite(cli, ctx, settings, monkeypatch):
    from tests.support.care import add_customers, customer, deploy_care

    deploy_care(ctx, "holiday_care")
    add_customers(ctx, customer("C1"), customer("C2"))
    monkeypatch.setenv("CAREFLOW_WAVES_BACKEND", "inline")
    result = cli.invoke(main, ["wave", "run", "holiday", "--day", "2025-10-01"])
    assert result.exit_code == 0, result.output
    assert '"started": 2' in result.output and '"chunks_queued": 0' in result.output
    again = cli.invoke(main, ["wave", "run", "holiday", "--day", "2025-10-01"])
    assert '"ran": false' in again.output
    if settings.is_sqlite:
        refused = cli.invoke(main, ["worker"])
        assert refused.exit_code != 0 and "needs PostgreSQL" in refused.output
