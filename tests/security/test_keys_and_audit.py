"""Finding 12: personal data at rest (versioned keys, rows bound into AES-GCM, names and birth dates not in clear)
and a keyed audit chain someone with database write access cannot recompute."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from engine import audit
from engine.complaints import intake as intake_auth
from engine.config import Settings
from engine.customers import customer360
from engine.customers.service import CustomerInput, create_customer
from engine.db.models import AuditEvent
from engine.errors import ConfigurationError
from engine.services import instances, second_factor
from tests.conftest import TEST_DATA_KEY
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks
from web.cli import main

BORN = date(1961, 9, 14)


def _customers(ctx, actor) -> None:
    create_customer(ctx, CustomerInput(id="C1", name="王小明", birth_date=BORN, phone="13800000001",
                                       email="a@example.cn", branch="SH01"), actor=actor)
    create_customer(ctx, CustomerInput(id="C2", name="李娜", birth_date=date(1990, 1, 2), phone="13800000002",
                                       branch="SH01"), actor=actor)


def _legacy_token(value: str) -> str:
    """A field as the code before key versions wrote it: ``v1:`` + AES-GCM with no key id and no row binding."""
    master = base64.urlsafe_b64decode(TEST_DATA_KEY)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"careflow:encrypt").derive(master)
    nonce = os.urandom(12)
    return "v1:" + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, value.encode(), None)).decode()


# --- personal data -------------------------------------------------------------------------------------------------


def test_names_and_full_birth_dates_are_not_stored_in_clear(ctx, people, db):
    _customers(ctx, people["root"])
    with db.connect() as conn:
        row = conn.execute(text("SELECT * FROM customer WHERE id = 'C1'")).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    assert "王小明" not in stored and "1961-09-14" not in stored and "1961" not in stored
    assert row["birthday_md"] == "09-14"  # the care scan's index stays


def test_name_search_still_finds_by_prefix_and_reads_back(ctx, people):
    _customers(ctx, people["root"])
    page = customer360.list_customers(ctx, actor=people["root"], q="王小")
    assert [item.id for item in page.items] == ["C1"]
    assert customer360.list_customers(ctx, actor=people["root"], q="王").items[0].name == "王*明"
    assert customer360.list_customers(ctx, actor=people["root"], q="张").items == []
    view = customer360.customer_360(ctx, "C1", people["root"])
    assert view.age is not None and view.age >= 60


def test_a_ciphertext_moved_to_another_row_fails_with_a_typed_error(ctx, people, db):
    from engine.privacy import CiphertextMismatchError

    _customers(ctx, people["root"])
    with db.begin() as conn:
        phone = conn.execute(text("SELECT phone_enc FROM customer WHERE id = 'C1'")).scalar_one()
        conn.execute(text("UPDATE customer SET phone_enc = :p WHERE id = 'C2'"), {"p": phone})
    with pytest.raises(CiphertextMismatchError):
        customer360.reveal_contact(ctx, "C2", "phone", people["root"], reason="check")


def test_a_ciphertext_moved_to_another_column_fails_with_a_typed_error(ctx, people, db):
    from engine.privacy import CiphertextMismatchError

    _customers(ctx, people["root"])
    with db.begin() as conn:
        phone = conn.execute(text("SELECT phone_enc FROM customer WHERE id = 'C1'")).scalar_one()
        conn.execute(text("UPDATE customer SET email_enc = :p WHERE id = 'C1'"), {"p": phone})
    with pytest.raises(CiphertextMismatchError):
        customer360.reveal_contact(ctx, "C1", "email", people["root"], reason="check")


def _totp_now(ctx, secret_b32: str) -> str:
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    return TOTP(base64.b32decode(secret_b32), 6, hashes.SHA1(), 30).generate(ctx.clock.now().timestamp()).decode()


def test_rotate_adds_a_key_re_encrypts_every_field_and_resumes_after_a_kill(ctx, people, db, tmp_path):
    from engine import keys
    from engine.privacy import Keyring

    ring_file = tmp_path / "keys.json"
    ring_file.write_text(TEST_DATA_KEY)  # the single-key file of earlier versions
    ctx.cipher = ctx.cipher.with_keyring(Keyring.load(ring_file))
    _customers(ctx, people["root"])
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=people["alice"], variables={"id_number": "X1"})
    _view, intake_secret = intake_auth.add_secret(ctx, "wechat", by="root")  # a channel's signing secret
    enrolment = second_factor.new_enrolment(people["root"])  # a second-factor secret, encrypted like the rest
    second_factor.enrol(ctx, people["root"], enrolment.secret, _totp_now(ctx, enrolment.secret))
    with db.begin() as conn:  # one legacy field as the old code wrote it
        conn.execute(text("UPDATE customer SET email_enc = :v WHERE id = 'C2'"), {"v": _legacy_token("b@example.cn")})
    assert customer360.reveal_contact(ctx, "C2", "email", people["root"], reason="check") == "b@example.cn"

    first = keys.rotate(ctx, ring_file, batch_size=1, max_batches=1)  # killed after one batch
    assert first.done is False
    new_id = Keyring.load(ring_file).active
    second = keys.rotate(ctx, ring_file, batch_size=1)  # run again: continues, no third key
    assert second.done and Keyring.load(ring_file).active == new_id and len(Keyring.load(ring_file).keys) == 2
    with db.connect() as conn:
        values = conn.execute(text("SELECT name_enc, birth_date_enc, phone_enc, email_enc FROM customer")).all()
        state = conn.execute(text("SELECT state FROM process_instance")).scalar_one()
        totp = conn.execute(text("SELECT totp_secret FROM app_user WHERE username = 'root'")).scalar_one()
        signing = conn.execute(text("SELECT secret_encrypted FROM intake_secret")).scalar_one()
    assert totp.startswith(f"v2:{new_id}:") and signing.startswith(f"v2:{new_id}:")
    for value in (v for row in values for v in row if v):
        assert value.startswith(f"v2:{new_id}:"), value
    assert state.startswith(f"z2:{new_id}:")  # the sealed workflow state too
    ctx.cipher = ctx.cipher.with_keyring(Keyring.load(ring_file))
    assert customer360.reveal_contact(ctx, "C2", "email", people["root"], reason="check") == "b@example.cn"
    assert customer360.customer_360(ctx, "C1", people["root"]).name == "王小明"
    [task] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, task.id, people["alice"])  # the instance restores from the re-sealed state
    ctx.clock.advance(timedelta(seconds=30))
    second_factor.verify(ctx, "root", _totp_now(ctx, enrolment.secret))  # the re-encrypted secrets still work
    assert intake_secret in intake_auth.active_secrets(ctx, "wechat")
    with Session(db) as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.stream == "system:keys")).all()
    assert actions == ["keys.rotation_started", "keys.rotated"]


def test_keys_rotate_command(ctx, people, settings, monkeypatch, tmp_path):
    ring_file = tmp_path / "keys.json"
    ring_file.write_text(TEST_DATA_KEY)
    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.delenv("CAREFLOW_DATA_KEY", raising=False)
    monkeypatch.setenv("CAREFLOW_DATA_KEY_FILE", str(ring_file))
    _customers(ctx, people["root"])
    cut = CliRunner().invoke(main, ["keys", "rotate", "--batch-size", "1", "--max-batches", "1"])
    assert cut.exit_code == 3 and "run `careflow keys rotate` again" in cut.output, cut.output
    result = CliRunner().invoke(main, ["keys", "rotate", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert "continued rotation to key k2" in result.output and "done" in result.output
    status = CliRunner().invoke(main, ["keys", "status"])
    assert "active: k2" in status.output and TEST_DATA_KEY not in status.output
    ring = json.loads(ring_file.read_text())
    assert len(ring["keys"]) == 2 and ring["active"] != "k1"


def test_a_postgresql_database_without_a_key_setting_refuses_to_start(tmp_path):
    with pytest.raises(ConfigurationError, match="CAREFLOW_DATA_KEY"):
        Settings.from_env({"DATABASE_URL": "postgresql://db.example/careflow"})
    Settings.from_env({"DATABASE_URL": "postgresql://db.example/careflow", "CAREFLOW_DATA_KEY_FILE": "/etc/careflow/k"})


def test_key_file_and_attachments_follow_the_sqlite_database_not_the_working_directory(tmp_path):
    settings = Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/inst/careflow.db"})
    assert settings.privacy.data_key_file == tmp_path / "inst" / "data.key"
    assert settings.uploads.dir == tmp_path / "inst" / "attachments"


# --- the audit chain -----------------------------------------------------------------------------------------------


def _plain_rechain(db, stream: str) -> None:
    """What an attacker with write access does: change an event, then recompute the plain SHA-256 chain."""
    with Session(db) as session, session.begin():
        rows = session.scalars(select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.id)).all()
        rows[0].after = {"tier": "private"}
        prev = audit.GENESIS
        for row in rows:
            content = {"stream": row.stream, "actor": row.actor, "action": row.action, "subject_type": row.subject_type,
                       "subject_id": row.subject_id, "before": row.before, "after": row.after, "at": row.at.isoformat()}
            body = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
            row.prev_hash, row.hash = prev, hashlib.sha256((prev + body).encode()).hexdigest()
            prev = row.hash


def test_a_recomputed_plain_sha256_chain_does_not_verify(ctx, people, db):
    _customers(ctx, people["root"])
    _plain_rechain(db, "customer:C1")
    with Session(db) as session:
        check = audit.verify_stream(session, "customer:C1")
    assert not check.ok


def test_audit_verify_command_exits_non_zero_with_the_first_broken_event(ctx, people, db, settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.privacy.data_key)
    _customers(ctx, people["root"])
    runner = CliRunner()
    assert runner.invoke(main, ["audit", "verify"]).exit_code == 0
    with db.begin() as conn:
        first = conn.execute(text("SELECT min(id) FROM audit_event WHERE stream = 'customer:C2'")).scalar_one()
        conn.execute(update(AuditEvent).where(AuditEvent.id == first).values(actor="mallory"))
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code != 0 and f"#{first}" in result.output
    stream = runner.invoke(main, ["audit", "verify", "--stream", "customer:C1"])
    assert stream.exit_code == 0, stream.output


def test_the_daily_check_records_an_incident_when_the_chain_is_broken(ctx, people, db, caplog):
    from engine.audit_check import daily_check

    _customers(ctx, people["root"])
    assert daily_check(ctx).ok
    with db.begin() as conn:
        conn.execute(update(AuditEvent).where(AuditEvent.stream == "customer:C1").values(actor="mallory"))
    result = daily_check(ctx)
    assert not result.ok and result.broken[0].stream == "customer:C1"
    assert any(r.levelname == "ERROR" for r in caplog.records)
    with Session(db) as session:
        assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "audit.chain_broken")) is not None


def test_audit_export_writes_json_lines_for_a_period(ctx, people, settings, monkeypatch, tmp_path, clock):
    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.privacy.data_key)
    _customers(ctx, people["root"])
    day = clock.now().date()
    out = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(main, ["audit", "export", "--from", day.isoformat(),
                                       "--to", (day + timedelta(days=1)).isoformat(), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"stream", "action", "hash", "prev_hash", "at"} <= set(lines[0])
    assert "customer:C1" in {line["stream"] for line in lines}
    empty = CliRunner().invoke(main, ["audit", "export", "--from", "2001-01-01", "--to", "2001-01-02"])
    assert empty.exit_code == 0 and empty.output == ""


def test_legacy_plain_sha256_rows_are_resealed_once_with_an_event_saying_so(ctx, people, db):
    from engine.audit_check import reseal_legacy

    _customers(ctx, people["root"])
    # Rewrite C1's stream the way the code before the keyed chain wrote it (plain SHA-256, unchanged content).
    with Session(db) as session, session.begin():
        rows = session.scalars(select(AuditEvent).where(AuditEvent.stream == "customer:C1").order_by(AuditEvent.id)).all()
        prev = audit.GENESIS
        for row in rows:
            content = {"stream": row.stream, "actor": row.actor, "action": row.action, "subject_type": row.subject_type,
                       "subject_id": row.subject_id, "before": row.before, "after": row.after, "at": row.at.isoformat()}
            body = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
            row.prev_hash, row.hash = prev, hashlib.sha256((prev + body).encode()).hexdigest()
            prev = row.hash
    with Session(db) as session:
        assert not audit.verify_stream(session, "customer:C1").ok
    with Session(db) as session, session.begin():
        report = reseal_legacy(session, at=ctx.clock.now())
    assert report.resealed_events >= 1 and report.streams == ["customer:C1"]
    with Session(db) as session:
        assert audit.verify_stream(session, "customer:C1").ok
        assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "audit.resealed")) is not None


def test_a_change_to_a_protected_attribute_alone_is_saved(ctx, people, db):
    """Renaming a loaded customer changes no mapped column until the flush encrypts it: the session must still
    flush (it once saw nothing to do, and the new name was silently lost)."""
    from engine.customers.models import Customer

    _customers(ctx, people["root"])
    with ctx.sessions.begin() as session:
        session.get(Customer, "C2").name = "李娜娜"
    with Session(db) as session:
        stored = session.scalars(select(Customer.name_enc).where(Customer.id == "C2")).one()
    with ctx.sessions() as session:
        assert session.get(Customer, "C2").name == "李娜娜" and "李娜娜" not in stored
