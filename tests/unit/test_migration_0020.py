"""Revision 0020 on a database written by earlier versions: clear names and birth dates become ciphertexts bound to
their rows, legacy ``v1:`` fields still open, and the plain SHA-256 audit chain is re-sealed once, with an event."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from engine import audit
from engine.config import normalize_database_url
from engine.db import migrate
from engine.db.models import AuditEvent
from engine.privacy import FieldCipher, Keyring, Where, customer_field
from tests.conftest import TEST_DATA_KEY

AT = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
def fresh(tmp_path, database_url) -> Iterator[Engine]:
    """An empty database of the kind the run uses (PostgreSQL: a second database on the same server)."""
    if not database_url.startswith("postgres"):
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    url = make_url(normalize_database_url(database_url))
    name = f"careflow_mig_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(url.set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _legacy(value: str) -> str:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"careflow:encrypt").derive(base64.urlsafe_b64decode(TEST_DATA_KEY))
    nonce = os.urandom(12)
    return "v1:" + base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, value.encode(), None)).decode()


def _old_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO customer (id, name, birth_date, birthday_calendar, birthday_md, lunar_leap, tier, phone_enc, "
            "language, preferred_channel, do_not_disturb, status, aum, professional_investor, qualified_investor, "
            "created_at, updated_at) VALUES ('M1', '欧阳明', :born, 'solar', '10-01', false, 'mass', :phone, 'zh-CN', "
            "'sms', false, 'active', 0, false, false, :at, :at)"),
            {"born": datetime(1950, 10, 1).date(), "phone": _legacy("13800000009"), "at": AT})
        prev = audit.GENESIS
        for action in ("customer.created", "customer.viewed"):
            event = {"stream": "customer:M1", "actor": "root", "action": action, "subject_type": "customer",
                     "subject_id": "M1", "before": None, "after": None, "at": AT.isoformat()}
            body = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            conn.execute(text("INSERT INTO audit_event (stream, actor, action, subject_type, subject_id, at, prev_hash, "
                              "hash) VALUES ('customer:M1', 'root', :action, 'customer', 'M1', :at, :prev, :hash)"),
                         {"action": action, "at": AT, "prev": prev, "hash": digest})
            prev = digest


def test_revision_0020_refuses_to_run_on_old_rows_without_the_keys(fresh):
    migrate.upgrade(fresh, "0018")
    _old_rows(fresh)
    with pytest.raises(RuntimeError, match="careflow db upgrade"):
        migrate.upgrade(fresh)
    assert migrate.current(fresh) == "0018"  # nothing half-done


def test_revision_0020_encrypts_old_names_and_birth_dates_and_reseals_the_audit_chain(fresh):
    migrate.upgrade(fresh, "0018")
    _old_rows(fresh)
    migrate.upgrade(fresh, keyring=Keyring.single(TEST_DATA_KEY))
    columns = {c["name"] for c in inspect(fresh).get_columns("customer")}
    assert {"name", "birth_date"}.isdisjoint(columns) and {"name_enc", "name_search", "birth_date_enc"} <= columns
    cipher = FieldCipher(TEST_DATA_KEY)
    with fresh.connect() as conn:
        row = conn.execute(text("SELECT name_enc, name_search, birth_date_enc, phone_enc, birthday_md FROM customer")).one()
    assert "欧阳" not in str(row) and "1950" not in str(row) and row.birthday_md == "10-01"
    assert cipher.decrypt(row.name_enc, Where("customer", "name", "M1")) == "欧阳明"
    assert cipher.decrypt(row.birth_date_enc, Where("customer", "birth_date", "M1")) == "1950-10-01"
    assert f" {cipher.name_token('欧阳')} " in row.name_search
    assert cipher.decrypt(row.phone_enc, customer_field("phone", "M1")) == "13800000009"  # legacy, still readable
    audit.configure(cipher.audit_key)
    with Session(fresh) as session:
        assert audit.verify_stream(session, "customer:M1").ok
        resealed = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.resealed")).one()
        assert resealed.after is not None and resealed.after["events"] == 2
        assert audit.verify_stream(session, "system:audit").ok
