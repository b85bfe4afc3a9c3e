"""personal data at rest: customer names, full birth dates and complainant names encrypted (bound to their row), a
blind index for name search; the audit chain re-sealed with the keyed HMAC

Existing rows are rewritten here, so this revision needs the data keys: ``careflow db upgrade`` passes the keyring
(``migrate.upgrade(engine, keyring=…)``). On a database with customers or audit events and no keyring it stops
with a message instead of leaving clear names behind. The decision field by field: docs/personal-data.md.

Revision ID: 0020
Revises: 0018
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.orm import Session

from engine.clock import SystemClock

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("name_enc", sa.Text(), nullable=True))
        batch.add_column(sa.Column("name_search", sa.Text(), nullable=True))
        batch.add_column(sa.Column("birth_date_enc", sa.Text(), nullable=True))
    with op.batch_alter_table("complaint") as batch:
        batch.add_column(sa.Column("complainant_name_enc", sa.Text(), nullable=True))
    connection = op.get_bind()
    customers = connection.execute(sa.text("SELECT count(*) FROM customer")).scalar_one()
    customers += connection.execute(sa.text("SELECT count(*) FROM complaint")).scalar_one()
    events = connection.execute(sa.text("SELECT count(*) FROM audit_event")).scalar_one()
    keyring = context.config.attributes.get("keyring")
    if (customers or events) and keyring is None:
        raise RuntimeError("revision 0020 encrypts customer names and birth dates and re-seals the audit chain: run it "
                           "with the data keys, through `careflow db upgrade`")
    if keyring is not None:
        from engine import audit
        from engine.privacy import FieldCipher, Where

        cipher = FieldCipher(keyring)
        audit.configure(cipher.audit_key)
        _encrypt_customers(connection, cipher, Where)
        _encrypt_complainants(connection, cipher, Where)
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("name")
        batch.drop_column("birth_date")
    with op.batch_alter_table("complaint") as batch:
        batch.drop_column("complainant_name")
    if keyring is not None and events:
        from engine.audit_check import reseal_legacy

        session = Session(bind=connection)
        reseal_legacy(session, at=SystemClock().now())
        session.flush()


def _encrypt_customers(connection: sa.Connection, cipher: object, where: type) -> None:
    from engine.privacy import FieldCipher

    assert isinstance(cipher, FieldCipher)
    last = ""
    while True:
        rows = connection.execute(sa.text("SELECT id, name, birth_date FROM customer WHERE id > :last ORDER BY id "
                                          "LIMIT :n"), {"last": last, "n": _BATCH}).all()
        if not rows:
            return
        for cid, name, born in rows:
            born_text = born.isoformat() if isinstance(born, date) else (str(born)[:10] if born else None)
            connection.execute(
                sa.text("UPDATE customer SET name_enc = :name, name_search = :search, birth_date_enc = :born "
                        "WHERE id = :id"),
                {"id": cid, "name": cipher.encrypt(name, where("customer", "name", cid)),
                 "search": cipher.name_tokens(name),
                 "born": cipher.encrypt(born_text, where("customer", "birth_date", cid))})
        last = rows[-1][0]


def _encrypt_complainants(connection: sa.Connection, cipher: Any, where: type) -> None:
    last = 0
    while True:
        rows = connection.execute(sa.text("SELECT id, case_no, complainant_name FROM complaint WHERE id > :last "
                                          "ORDER BY id LIMIT :n"), {"last": last, "n": _BATCH}).all()
        if not rows:
            return
        for row_id, case_no, name in rows:
            connection.execute(sa.text("UPDATE complaint SET complainant_name_enc = :name WHERE id = :id"),
                               {"id": row_id, "name": cipher.encrypt(name or None, where("complaint", "complainant_name",
                                                                                        case_no))})
        last = rows[-1][0]


def downgrade() -> None:
    raise NotImplementedError("names and birth dates are encrypted from revision 0020 on; restore a backup instead")
