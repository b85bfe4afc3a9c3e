"""Checking, re-sealing and exporting the audit chain (``careflow audit …`` and the scheduler's daily check).

:func:`verify_all` walks every stream in (stream, id) order through the index; :func:`daily_check` is what the
scheduler runs each night: a break is logged as an error and recorded as an ``audit.chain_broken`` event on the
``system:audit`` stream, so it reaches whoever reviews the trail even if nobody reads the logs.
:func:`reseal_legacy` runs once, from migration 0020: chains written with the plain SHA-256 of earlier versions
are re-sealed with the keyed HMAC, but only events whose plain hash still verifies — a chain already broken stays
broken — and an ``audit.resealed`` event says what was done.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.models import AuditEvent, ProcessInstance
from engine.db.session import unit_of_work

log = logging.getLogger(__name__)

SYSTEM_STREAM = "system:audit"
_BATCH = 1000


@dataclass(frozen=True)
class AuditCheckResult:
    streams: int
    events: int
    broken: list[audit.ChainCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken


def _streams(session: Session, stream: str | None = None) -> Iterator[tuple[str, list[AuditEvent]]]:
    """Each stream's events in id order, read in batches (the table may be large)."""
    stmt = select(AuditEvent).order_by(AuditEvent.stream, AuditEvent.id).execution_options(yield_per=_BATCH)
    if stream is not None:
        stmt = stmt.where(AuditEvent.stream == stream)
    current: str | None = None
    rows: list[AuditEvent] = []
    for row in session.scalars(stmt):
        if row.stream != current:
            if current is not None:
                yield current, rows
            current, rows = row.stream, []
        rows.append(row)
    if current is not None:
        yield current, rows


def verify_all(session: Session, stream: str | None = None) -> AuditCheckResult:
    """Every stream (or one), each from its genesis; the broken ones with their first bad event."""
    streams = events = 0
    broken: list[audit.ChainCheck] = []
    for name, rows in _streams(session, stream):
        streams, events = streams + 1, events + len(rows)
        check = audit.verify_rows(name, rows)
        if not check.ok:
            broken.append(check)
    return AuditCheckResult(streams, events, broken)


def daily_check(ctx: EngineContext) -> AuditCheckResult:
    """The scheduler's nightly verification. On a break: an error in the log and an ``audit.chain_broken`` event."""
    with unit_of_work(ctx.sessions, write=False) as session:
        result = verify_all(session)
    if result.ok:
        log.info("audit chain verified: %d streams, %d events", result.streams, result.events)
        return result
    first = [{"stream": c.stream, "broken_at": c.broken_at} for c in result.broken[:20]]
    log.error("audit chain BROKEN in %d stream(s); first: %s", len(result.broken), first)
    with unit_of_work(ctx.sessions) as session:
        audit.append(session, stream=SYSTEM_STREAM, actor="system", action="audit.chain_broken",
                     subject_type="audit", subject_id="chain", at=ctx.clock.now(),
                     after={"broken_streams": len(result.broken), "first": first})
    return result


@dataclass(frozen=True)
class ResealReport:
    streams: list[str]
    resealed_events: int
    unverifiable: list[str]


def reseal_legacy(session: Session, *, at: datetime) -> ResealReport:
    """Re-seal chains written with plain SHA-256 using the keyed HMAC, once (migration 0020 calls it).

    Within a stream, each event must verify either way against the stored link before it; from the first legacy
    event on, hashes are recomputed with the key (and an instance's ``audit_head`` follows). A stream with an
    event that verifies neither way is left alone and reported: re-sealing it would launder the break.
    """
    resealed: list[str] = []
    unverifiable: list[str] = []
    count = 0
    plans: list[tuple[str, list[tuple[int, str, str]], str, str]] = []
    for name, rows in _streams(session):
        plan = _plan(rows)
        if plan is None:
            unverifiable.append(name)
        elif plan:
            plans.append((name, plan, rows[-1].hash, plan[-1][2]))
    for name, plan, old_head, new_head in plans:
        for row_id, prev_hash, digest in plan:
            session.execute(update(AuditEvent).where(AuditEvent.id == row_id).values(prev_hash=prev_hash, hash=digest))
        if name.startswith("instance:"):
            session.execute(update(ProcessInstance).where(ProcessInstance.audit_head == old_head)
                            .values(audit_head=new_head))
        session.info.get("audit_heads", {}).pop(name, None)
        resealed.append(name)
        count += len(plan)
    if resealed or unverifiable:
        audit.append(session, stream=SYSTEM_STREAM, actor="system", action="audit.resealed", subject_type="audit",
                     subject_id="chain", at=at,
                     after={"streams": len(resealed), "events": count, "unverifiable": unverifiable[:50],
                            "reason": "plain SHA-256 chain re-sealed with the keyed HMAC (migration 0020)"})
    return ResealReport(resealed, count, unverifiable)


def _plan(rows: Sequence[AuditEvent]) -> list[tuple[int, str, str]] | None:
    """(id, new prev_hash, new hash) for the events to rewrite; [] when the stream is keyed already; None when
    some event verifies neither way."""
    plan: list[tuple[int, str, str]] = []
    stored_prev = new_prev = audit.GENESIS
    for row in rows:
        body = audit.content(row)
        if row.prev_hash != stored_prev:
            return None
        keyed = row.hash == audit._digest(row.prev_hash, body)
        if not keyed and row.hash != audit.legacy_digest(row.prev_hash, body):
            return None
        if plan or not keyed:
            digest = audit._digest(new_prev, body)
            plan.append((row.id, new_prev, digest))
            new_prev = digest
        else:
            new_prev = row.hash
        stored_prev = row.hash
    return plan


def export(session: Session, start: datetime, end: datetime, out: IO[str]) -> int:
    """Events with ``start <= at < end`` as JSON lines (id order), with their hashes, so a copy kept elsewhere
    can be checked against the chain later. Returns the number written."""
    stmt = (select(AuditEvent).where(AuditEvent.at >= start, AuditEvent.at < end).order_by(AuditEvent.id)
            .execution_options(yield_per=_BATCH))
    written = 0
    for row in session.scalars(stmt):
        line: dict[str, Any] = {"id": row.id, **audit.content(row), "prev_hash": row.prev_hash, "hash": row.hash}
        out.write(json.dumps(line, ensure_ascii=False, sort_keys=True, default=str) + "\n")
        written += 1
    return written
