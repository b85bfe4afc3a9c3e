"""engine.db.pipeline: a pipelined block behaves as the same statements one by one (on PostgreSQL it really
pipelines; on SQLite it is the block as it is) — the revision check, driver errors, ordinary reads in between,
and SQLite's reads outside a transaction (unit_of_work(snapshot=False))."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.db.models import HumanTask, ProcessInstance
from engine.db.pipeline import pipelined
from engine.db.session import unit_of_work
from engine.errors import ConcurrentModificationError
from engine.runtime import rows
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy


def _started(ctx, key: str = "K1") -> uuid.UUID:
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    return uuid.UUID(instances.start_instance(ctx, process_key="simple", actor=SYSTEM, business_key=key).id)


def test_a_stale_revision_in_a_pipelined_block_raises_before_commit_and_nothing_is_stored(ctx):
    instance_id = _started(ctx)
    with pytest.raises(ConcurrentModificationError), unit_of_work(ctx.sessions) as session, \
            pipelined(session.connection()):
        instance = rows.read_instance(session, instance_id, lock="wait")
        assert instance is not None
        rows.advance_instance(session, instance_id, instance.revision, "head-1")  # stored: revision 2
        rows.advance_instance(session, instance_id, instance.revision, "head-2")  # stale: still expects 1
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = rows.instance_row(session, instance_id)
    assert stored is not None and stored.revision == 1 and stored.audit_head != "head-1"


def test_a_pipelined_block_stores_its_writes_and_reads_them_back_in_between(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions) as session, pipelined(session.connection()):
        instance = rows.read_instance(session, instance_id, lock="wait")
        assert instance is not None
        rows.advance_instance(session, instance_id, instance.revision, "head-1")
        # an ordinary (ORM) read and a prepared read in the same block see the write queued before them
        assert session.scalar(select(ProcessInstance.audit_head).where(ProcessInstance.id == instance_id)) == "head-1"
        again = rows.instance_row(session, instance_id)
        assert again is not None and again.revision == 2
        assert rows.open_task_ids(session, instance_id) == list(session.scalars(
            select(HumanTask.id).where(HumanTask.instance_id == instance_id)))
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = rows.instance_row(session, instance_id)
    assert stored is not None and (stored.revision, stored.audit_head) == (2, "head-1")


def test_a_driver_error_in_a_pipelined_block_is_sqlalchemys(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        taken = rows.instance_row(session, instance_id)
    assert taken is not None
    taken.id = uuid.uuid4()  # the same business key again: the unique index refuses it
    with pytest.raises(IntegrityError), unit_of_work(ctx.sessions) as session, pipelined(session.connection()):
        rows.insert_instance(session, taken)
        rows.advance_instance(session, instance_id, 1, "head-1")
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = rows.instance_row(session, instance_id)
        assert rows.instance_row(session, taken.id) is None
    assert stored is not None and stored.revision == 1


def test_reads_without_a_snapshot_see_each_statement_as_committed(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False, snapshot=False) as session:
        before = rows.instance_row(session, instance_id)
        with unit_of_work(ctx.sessions) as writer:
            rows.advance_instance(writer, instance_id, 1, "head-1")
        after = rows.instance_row(session, instance_id)
    assert before is not None and after is not None
    assert (before.revision, after.revision) == (1, 2)  # SQLite: a snapshot would have kept revision 1
