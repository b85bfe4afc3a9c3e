"""Key rotation: ``careflow keys rotate`` adds a data key to the keyring, makes it active, and re-encrypts every
protected column with it, in batches.

Resumable by construction: each ciphertext names its key (``v2:<key id>:…``, ``z2:<key id>:…``), so what is left to
do is what is not under the active key. The keyring file says ``"rotating": true`` from the moment the key was added
until a pass finds nothing left; a run killed half-way is run again and continues with the same key instead of
adding another. Each row is rewritten with a compare-and-swap (``WHERE`` the old ciphertexts are still there), so a
step or an edit that wrote the row meanwhile wins and the row is picked up again. Legacy fields (``v1:``/``z1:``,
no key id, no row binding) and states stored before sealing are rewritten in the current format on the way.

Processes running while the keys rotate read the keyring file again when they meet a key id they do not know;
restart them afterwards so that they also *write* with the new key (a later rotation catches anything they wrote).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, and_, cast, false, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute

from engine import audit
from engine.complaints.intake_models import IntakeSecret
from engine.complaints.models import Complaint
from engine.context import EngineContext
from engine.customers.models import Customer
from engine.db.casefile import TaskSubmission
from engine.db.models import ProcessInstance, User
from engine.db.session import unit_of_work
from engine.errors import ConfigurationError
from engine.outbox.models import OutboxMessage
from engine.outbox.store import SEALED, param_field
from engine.privacy import FieldCipher, Keyring, Where, intake_secret_field, submission_field, totp_secret_field

CUSTOMER_FIELDS = ("name", "birth_date", "phone", "email", "id_number", "address")
COMPLAINT_FIELDS = ("complainant_name", "complainant_phone")


@dataclass(frozen=True)
class Protected:
    """One table's protected columns: how to find rows not under the active key and how to re-encrypt one."""

    name: str
    key: InstrumentedAttribute[Any]  # the primary key, for keyset batches
    columns: tuple[InstrumentedAttribute[Any], ...]
    stale: Callable[[str], ColumnElement[bool]]  # rows with something not under this key id
    redo: Callable[[FieldCipher, Any], dict[str, Any]]  # new values for a loaded row (columns by name)


def _field_stale(column: InstrumentedAttribute[Any], prefix: str) -> ColumnElement[bool]:
    return and_(column.is_not(None), ~column.startswith(prefix))


def _customer(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    return {f"{f}_enc": cipher.reencrypt(getattr(row, f"{f}_enc"), Where("customer", f, row.id)) for f in CUSTOMER_FIELDS}


def _complaint(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    return {f"{f}_enc": cipher.reencrypt(getattr(row, f"{f}_enc"), Where("complaint", f, row.case_no))
            for f in COMPLAINT_FIELDS}


def _instance(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    return {"state": cipher.reseal(row.state, Where("process_instance", "state", str(row.id)))}


def _user(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    return {"totp_secret": cipher.reencrypt(row.totp_secret, totp_secret_field(row.username))}


def _intake(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    return {"secret_encrypted": cipher.reencrypt(row.secret_encrypted, intake_secret_field(row.channel, row.fingerprint))}


def _submission(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    return {"data_sealed": cipher.reseal(row.data_sealed, submission_field(row.task_id))}


def _outbox(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    params = {k: {SEALED: cipher.reencrypt(v[SEALED], param_field(row.idempotency_key, k))}
              if isinstance(v, dict) and SEALED in v else v for k, v in (row.params or {}).items()}
    return {"params": params}


def _outbox_stale(key_id: str) -> ColumnElement[bool]:
    # Every row with a sealed parameter; the Python side skips those already under the key (few rows carry one).
    return cast(OutboxMessage.params, Text).contains(SEALED)


TABLES = (
    Protected("customer", Customer.id, tuple(getattr(Customer, f"{f}_enc") for f in CUSTOMER_FIELDS),
              lambda k: or_(false(), *(_field_stale(getattr(Customer, f"{f}_enc"), f"v2:{k}:") for f in CUSTOMER_FIELDS)),
              _customer),
    Protected("complaint", Complaint.id, (*(getattr(Complaint, f"{f}_enc") for f in COMPLAINT_FIELDS), Complaint.case_no),
              lambda k: or_(false(), *(_field_stale(getattr(Complaint, f"{f}_enc"), f"v2:{k}:") for f in COMPLAINT_FIELDS)),
              _complaint),
    Protected("app_user", User.id, (User.totp_secret, User.username),
              lambda k: _field_stale(User.totp_secret, f"v2:{k}:"), _user),
    Protected("intake_secret", IntakeSecret.id,
              (IntakeSecret.secret_encrypted, IntakeSecret.channel, IntakeSecret.fingerprint),
              lambda k: _field_stale(IntakeSecret.secret_encrypted, f"v2:{k}:"), _intake),
    Protected("process_instance", ProcessInstance.id, (ProcessInstance.state,),
              lambda k: ~ProcessInstance.state.startswith(f"z2:{k}:"), _instance),
    # Submitted form data (engine.casefile). Drafts (task_draft) are not rewritten: they live only until their task
    # is completed, and the keys they were sealed with stay in the keyring.
    Protected("task_submission", TaskSubmission.id, (TaskSubmission.data_sealed, TaskSubmission.task_id),
              lambda k: ~TaskSubmission.data_sealed.startswith(f"z2:{k}:"), _submission),
    Protected("outbox_message", OutboxMessage.id, (OutboxMessage.params, OutboxMessage.idempotency_key),
              _outbox_stale, _outbox),
)


@dataclass(frozen=True)
class RotationResult:
    key_id: str
    reencrypted: int  # rows rewritten in this run
    done: bool  # nothing left under another key (the keyring is marked finished)
    started: bool  # this run added the key


def rotate(ctx: EngineContext, keyring_file: Path, *, batch_size: int = 500,
           max_batches: int | None = None) -> RotationResult:
    """Add and activate a new key (unless a rotation is unfinished), then re-encrypt batch by batch.

    ``max_batches`` stops early (``done`` is False): for a maintenance window, and for tests of a killed run.
    """
    if batch_size < 1:
        raise ConfigurationError("the batch size must be positive")
    ring = Keyring.load(keyring_file)
    started = not ring.rotating
    if started:
        ring = ring.with_new_key()
        ring.save(keyring_file)  # before any row is written with the key
        _note(ctx, "keys.rotation_started", {"key_id": ring.active})
    ctx.cipher = ctx.cipher.with_keyring(ring)
    done_rows, batches = 0, 0
    for table in TABLES:
        last: Any = None
        while True:
            if max_batches is not None and batches >= max_batches:
                return RotationResult(ring.active, done_rows, False, started)
            rewritten, last = _batch(ctx, table, ring.active, last, batch_size)
            batches += 1
            done_rows += rewritten
            if last is None:
                break
    if _left(ctx, ring.active):  # rows written meanwhile with an older key, or lost a race: the next run takes them
        return RotationResult(ring.active, done_rows, False, started)
    ring = ring.finished()
    ring.save(keyring_file)
    _note(ctx, "keys.rotated", {"key_id": ring.active, "rows": done_rows})
    return RotationResult(ring.active, done_rows, True, started)


def _batch(ctx: EngineContext, table: Protected, key_id: str, after: Any, size: int) -> tuple[int, Any]:
    """Re-encrypt one batch after the key ``after``; returns (rows rewritten, last key seen or None at the end)."""
    columns = (table.key, *table.columns)
    stmt = select(*columns).where(table.stale(key_id)).order_by(table.key).limit(size)
    if after is not None:
        stmt = stmt.where(table.key > after)
    rewritten = 0
    with unit_of_work(ctx.sessions) as session:
        rows = session.execute(stmt).all()
        target = table.key.class_.__table__
        assert isinstance(target, Table)
        for row in rows:
            values = table.redo(ctx.cipher, row)
            if values == {k: getattr(row, k) for k in values}:
                continue  # an outbox row whose sealed values are under the key already
            guard = [target.c[k].is_not_distinct_from(getattr(row, k)) for k in values if k != "params"]
            result = session.execute(update(target).where(target.c[table.key.key] == row[0], *guard).values(values))
            rewritten += result.rowcount or 0  # type: ignore[attr-defined]
    return rewritten, (rows[-1][0] if len(rows) == size else None)


def _left(ctx: EngineContext, key_id: str) -> bool:
    with unit_of_work(ctx.sessions, write=False) as session:
        for table in (t for t in TABLES if t.name != "outbox_message"):  # outbox rows are checked row by row
            if session.scalar(select(table.key).where(table.stale(key_id)).limit(1)) is not None:
                return True
    return False


def _note(ctx: EngineContext, action: str, after: dict[str, Any]) -> None:
    with unit_of_work(ctx.sessions) as session:
        audit.append(session, stream="system:keys", actor="cli", action=action, subject_type="keyring",
                     subject_id=after["key_id"], at=ctx.clock.now(), after=after)
