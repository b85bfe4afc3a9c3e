"""Append-only, hash-chained audit trail.

Events are chained per *stream* (``instance:<id>``, ``definition:<key>``, ``user:<name>``):
each event's hash is an HMAC-SHA256, keyed with a key from the keyring (outside the database, see
:func:`configure`), over its content and the previous event's hash — someone who can write to the database
cannot recompute the chain after changing an event. Chains written before the key (plain SHA-256) are re-sealed
once by migration 0020 (``engine.audit_check.reseal_legacy``). The table's
unique ``(stream, prev_hash)`` constraint makes a fork impossible. Instance streams keep
their head on the instance row: a workflow step (``engine.runtime.step``) chains its events in
memory after that head and writes them in one statement, with no query on the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from engine.db.bulk import gathering
from engine.db.models import AuditEvent
from engine.db.prepared import Prepared
from engine.errors import ConfigurationError

GENESIS = "0" * 64
_key: bytes | None = None


def configure(key: bytes) -> None:
    """Set the chain's HMAC key (``build_engine`` does, from the keyring). One key per process: every context
    of a process reads the same keyring, and the chain must be the same whichever context wrote an event."""
    global _key
    _key = key


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False).encode("utf-8")


def _digest(prev_hash: str, event: dict[str, Any]) -> str:
    if _key is None:
        raise ConfigurationError("the audit chain key is not configured (build_engine sets it from the keyring)")
    return hmac.new(_key, prev_hash.encode("ascii") + _body(event), hashlib.sha256).hexdigest()


def legacy_digest(prev_hash: str, event: dict[str, Any]) -> str:
    """The plain SHA-256 of chains written before the key; only the one-time re-seal reads it."""
    return hashlib.sha256(prev_hash.encode("ascii") + _body(event)).hexdigest()


def content(row: AuditEvent) -> dict[str, Any]:
    """The hashed content of a stored event."""
    return _content(row)


def _content(row: AuditEvent) -> dict[str, Any]:
    return {
        "stream": row.stream,
        "actor": row.actor,
        "action": row.action,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "before": row.before,
        "after": row.after,
        "at": row.at.isoformat(),
    }


# A Core insert, not session.add: every command appends at least one event, and the ORM's unit of work
# (identity map, dependency sort, a flush step) cost more than the insert itself. The row is written at once
# in the session's transaction; nothing reads it back as an object.
_INSERT = Prepared(insert(cast(Table, AuditEvent.__table__)))


def append(
    session: Session,
    *,
    stream: str,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    prev_hash: str | None = None,
) -> str:
    """Add one event to ``stream`` and return its hash (the stream's new head); ``prev_hash`` avoids a lookup
    when the caller knows the head.

    Heads appended earlier in the same session are remembered in ``session.info`` (a caller may also hold
    the head on a row it has not flushed yet): two events on one stream in one transaction chain.
    A second event claiming the same predecessor raises IntegrityError here, at once.
    """
    heads: dict[str, str] = session.info.setdefault("audit_heads", {})
    if prev_hash is None:
        prev_hash = heads.get(stream) or session.scalar(
            select(AuditEvent.hash).where(AuditEvent.stream == stream).order_by(AuditEvent.id.desc()).limit(1)
        ) or GENESIS
    values = {"stream": stream, "actor": actor, "action": action, "subject_type": subject_type,
              "subject_id": subject_id, "before": before, "after": after, "at": at}
    digest = _digest(prev_hash, values | {"at": at.isoformat()})
    _INSERT.execute(session.connection(), values | {"prev_hash": prev_hash, "hash": digest})
    heads[stream] = digest
    return digest


@dataclass(frozen=True)
class Entry:
    """An event on an instance's stream, chained and written by the step that caused it."""

    actor: str
    action: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def chain_instance(instance_id: uuid.UUID, head: str | None, entries: list[Entry],
                   at: datetime) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of ``entries`` chained after ``head`` on the instance's stream, and the new head (no I/O)."""
    rows: list[dict[str, Any]] = []
    prev = head or GENESIS
    for entry in entries:
        values = {"stream": f"instance:{instance_id}", "actor": entry.actor, "action": entry.action,
                  "subject_type": "instance", "subject_id": str(instance_id), "before": entry.before,
                  "after": entry.after, "at": at}
        digest = _digest(prev, values | {"at": at.isoformat()})
        rows.append(values | {"prev_hash": prev, "hash": digest})
        prev = digest
    return rows, (prev if rows else head)


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write chained rows (from :func:`chain_instance`) in one statement (gathered in a bulk start: engine.db.bulk)."""
    later = gathering(session)
    if later is not None:
        later.add(_INSERT.statement, rows)
    elif len(rows) == 1:
        _INSERT.execute(session.connection(), rows[0])
    elif rows:
        session.connection().execute(_INSERT.statement, rows)


@dataclass(frozen=True)
class ChainCheck:
    stream: str
    events: int
    ok: bool
    broken_at: int | None = None  # id (sequence number) of the first event whose hash does not verify


def verify_stream(session: Session, stream: str) -> ChainCheck:
    rows = session.scalars(select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.id)).all()
    return verify_rows(stream, rows)


def verify_rows(stream: str, rows: Sequence[AuditEvent]) -> ChainCheck:
    """Check one stream's events, in id order, from the genesis hash."""
    prev = GENESIS
    for row in rows:
        if row.prev_hash != prev or not hmac.compare_digest(row.hash, _digest(prev, _content(row))):
            return ChainCheck(stream, len(rows), False, row.id)
        prev = row.hash
    return ChainCheck(stream, len(rows), True)
