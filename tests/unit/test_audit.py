"""The audit trail is append-only, hash-chained per stream, and cannot fork."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.db.models import AuditEvent
from engine.services import instances
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks


def _one_finished_instance(ctx, actor) -> str:
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=actor)
    [task] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, task.id, actor)
    return f"instance:{started.id}"


def test_every_change_is_audited_and_the_chain_verifies(ctx, people, db):
    stream = _one_finished_instance(ctx, people["alice"])
    with Session(db) as session:
        check = audit.verify_stream(session, stream)
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.stream == stream)
                                  .order_by(AuditEvent.id)).all()
        assert audit.verify_stream(session, "definition:simple").ok
        assert audit.verify_stream(session, "user:alice").ok
    assert check.ok and check.events == 3
    assert actions == ["instance.started", "task.claim", "task.complete"]


def test_tampering_is_detected(ctx, people, db):
    stream = _one_finished_instance(ctx, people["alice"])
    with Session(db) as session:
        second = session.scalars(select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.id)).all()[1]
        session.execute(update(AuditEvent).where(AuditEvent.id == second.id).values(actor="mallory"))
        session.commit()
        check = audit.verify_stream(session, stream)
    assert not check.ok and check.broken_at == second.id


def test_a_chain_cannot_fork(ctx, db, clock):
    stream = f"test:{uuid.uuid4()}"
    with Session(db) as session:
        audit.append(session, stream=stream, actor="a", action="x", subject_type="t", subject_id="1", at=clock.now())
        session.commit()
        head = audit.GENESIS
        with pytest.raises(IntegrityError):  # a second event claiming the same predecessor
            audit.append(session, stream=stream, actor="b", action="y", subject_type="t", subject_id="1",
                         at=clock.now(), prev_hash=head)
            session.commit()


def test_two_events_on_one_stream_in_one_transaction_chain(ctx, db, clock):
    stream = f"test:{uuid.uuid4()}"
    with Session(db, autoflush=False) as session:
        first = audit.append(session, stream=stream, actor="a", action="x", subject_type="t", subject_id="1",
                             at=clock.now())
        second = audit.append(session, stream=stream, actor="a", action="y", subject_type="t", subject_id="1",
                              at=clock.now())
        session.commit()
        rows = session.scalars(select(AuditEvent).where(AuditEvent.stream == stream).order_by(AuditEvent.id)).all()
        assert [(r.prev_hash, r.hash) for r in rows] == [(audit.GENESIS, first), (first, second)]
        assert audit.verify_stream(session, stream).ok
