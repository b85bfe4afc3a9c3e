"""The plain-statement rows of engine.runtime.rows: the same data as the ORM sees, and the revision check."""

from __future__ import annotations

import typing
import uuid

import pytest
from sqlalchemy import select

from engine.db.models import TASK_COLUMNS, HumanTask, ProcessInstance, TaskCandidate, TaskRecord
from engine.db.session import unit_of_work
from engine.errors import ConcurrentModificationError
from engine.runtime import rows
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy


def test_task_record_declares_every_human_task_column():
    declared = set(typing.get_type_hints(TaskRecord)) - {"candidates"}
    assert declared == set(TASK_COLUMNS)


def test_a_new_task_row_reads_back_the_same_through_the_orm_and_as_a_plain_record(ctx):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team,branch_team",
                                                         candidateUsers="carol", priority="70"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM, customer_id="C9")
    with unit_of_work(ctx.sessions, write=False) as session:
        orm = session.scalars(select(HumanTask).where(HumanTask.instance_id == uuid.UUID(started.id))).one()
        plain = rows.task_row(session, orm.id)
        candidates = session.execute(select(TaskCandidate.kind, TaskCandidate.name, TaskCandidate.status)
                                     .where(TaskCandidate.task_id == orm.id)).all()
    assert plain is not None
    assert {name: getattr(plain, name) for name in TASK_COLUMNS} == {name: getattr(orm, name) for name in TASK_COLUMNS}
    assert (plain.group_names, plain.user_names, plain.excluded_names) == (("service_team", "branch_team"), ("carol",), ())
    assert (orm.priority, orm.customer_id, orm.excluded_users) == (70, "C9", "")  # set, and the column default
    assert sorted(candidates) == [("group", "branch_team", "open"), ("group", "service_team", "open"),
                                  ("user", "carol", "open")]


def test_an_instance_saved_since_it_was_read_is_not_overwritten(ctx):
    deploy(ctx, ("p.bpmn", b.linear("p", b.user_task("review", candidateGroups="service_team"))))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    key = uuid.UUID(started.id)
    with unit_of_work(ctx.sessions, write=False) as session:
        stale = rows.instance_row(session, key)
    assert stale is not None and stale.revision == 1
    with unit_of_work(ctx.sessions) as session:  # someone else's step: revision 1 → 2
        fresh = rows.instance_row(session, key)
        assert fresh is not None
        rows.update_instance(session, fresh, fresh.revision)
        assert fresh.revision == 2
    stale.error_message = "lost update"
    with pytest.raises(ConcurrentModificationError), unit_of_work(ctx.sessions) as session:
        rows.update_instance(session, stale, stale.revision)
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = session.get_one(ProcessInstance, key)
        assert (stored.revision, stored.error_message) == (2, None)  # no second UPDATE at that commit either
