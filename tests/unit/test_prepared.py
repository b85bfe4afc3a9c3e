"""engine.db.prepared: the same rows and errors as SQLAlchemy's own execution, and the statement events still fire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.db.models import INSTANCE_COLUMNS, InstanceRecord, ProcessInstance
from engine.db.prepared import Prepared
from engine.db.session import unit_of_work
from engine.runtime import rows
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import deploy

_INSTANCES = cast(Table, ProcessInstance.__table__)
_ROW = select(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance"))


def _started(ctx) -> uuid.UUID:
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    return uuid.UUID(instances.start_instance(ctx, process_key="simple", actor=SYSTEM, business_key="K1").id)


def test_a_prepared_query_gives_the_values_sqlalchemy_gives(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        ordinary = session.connection().execute(_ROW, {"instance": instance_id}).one()
        [prepared] = Prepared(_ROW).rows(session.connection(), {"instance": instance_id})
    assert prepared == tuple(ordinary)
    record = dict(zip(INSTANCE_COLUMNS, prepared, strict=True))
    assert isinstance(record["id"], uuid.UUID) and isinstance(record["started_at"], datetime)
    assert record["business_key"] == "K1" and record["revision"] == 1


def test_a_prepared_write_fires_the_statement_events_and_reports_the_rows_it_matched(ctx):
    instance_id = _started(ctx)
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    touch = Prepared(update(_INSTANCES).where(_INSTANCES.c.id == bindparam("instance"))
                     .values(updated_at=bindparam("at")))
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    event.listen(ctx.db, "before_cursor_execute", listener)
    try:
        with unit_of_work(ctx.sessions) as session:
            matched = touch.execute(session.connection(), {"instance": instance_id, "at": at})
            missed = touch.execute(session.connection(), {"instance": uuid.uuid4(), "at": at})
    finally:
        event.remove(ctx.db, "before_cursor_execute", listener)
    assert (matched, missed) == (1, 0)
    assert [s.split()[0] for s in seen] == ["UPDATE", "UPDATE"]
    with unit_of_work(ctx.sessions, write=False) as session:
        assert rows.instance_row(session, instance_id).updated_at == at


def test_a_prepared_insert_raises_sqlalchemys_integrity_error(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = rows.instance_row(session, instance_id)
    assert isinstance(stored, InstanceRecord)
    duplicate = {name: getattr(stored, name) for name in INSTANCE_COLUMNS}
    with pytest.raises(IntegrityError), unit_of_work(ctx.sessions) as session:
        Prepared(insert(_INSTANCES)).execute(session.connection(), duplicate)


def test_a_statement_that_needs_python_side_defaults_goes_the_ordinary_way(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        definition_id = rows.instance_row(session, instance_id).definition_id
    statement = Prepared(insert(_INSTANCES))
    values = {"id": uuid.uuid4(), "definition_id": definition_id,
              "process_key": "simple", "status": "running", "state": "{}", "state_version": 1, "started_by": "x",
              "started_at": datetime(2030, 1, 1, tzinfo=UTC), "updated_at": datetime(2030, 1, 1, tzinfo=UTC)}
    with unit_of_work(ctx.sessions) as session:  # revision has a Python-side default (1): left out, it is filled
        statement.execute(session.connection(), values)
    assert next(iter(statement._by_shape.values())) is None  # not prepared: the execution context fills the default
    with unit_of_work(ctx.sessions, write=False) as session:
        assert rows.instance_row(session, values["id"]).revision == 1


def test_execute_many_writes_every_row_in_one_driver_call_and_fires_the_events_once(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = rows.instance_row(session, instance_id)
    assert isinstance(stored, InstanceRecord)
    copies = []
    for n in range(3):
        values = {name: getattr(stored, name) for name in INSTANCE_COLUMNS}
        copies.append(values | {"id": uuid.uuid4(), "business_key": f"copy-{n}"})
    seen: list[tuple[str, bool]] = []

    def listener(_conn, _cursor, statement, _params, _context, executemany) -> None:
        seen.append((statement.split()[0], executemany))

    event.listen(ctx.db, "before_cursor_execute", listener)
    try:
        with unit_of_work(ctx.sessions) as session:
            Prepared(insert(_INSTANCES)).execute_many(session.connection(), copies)
    finally:
        event.remove(ctx.db, "before_cursor_execute", listener)
    assert seen == [("INSERT", True)]
    with unit_of_work(ctx.sessions, write=False) as session:
        assert [rows.instance_row(session, c["id"]).business_key for c in copies] == ["copy-0", "copy-1", "copy-2"]


def test_execute_many_raises_sqlalchemys_integrity_error_and_stores_nothing(ctx):
    instance_id = _started(ctx)
    with unit_of_work(ctx.sessions, write=False) as session:
        stored = rows.instance_row(session, instance_id)
    assert isinstance(stored, InstanceRecord)
    fresh = {name: getattr(stored, name) for name in INSTANCE_COLUMNS} | {"id": uuid.uuid4(), "business_key": "new"}
    duplicate = {name: getattr(stored, name) for name in INSTANCE_COLUMNS}
    with pytest.raises(IntegrityError), unit_of_work(ctx.sessions) as session:
        Prepared(insert(_INSTANCES)).execute_many(session.connection(), [fresh, duplicate])
    with unit_of_work(ctx.sessions, write=False) as session:
        assert rows.instance_row(session, fresh["id"]) is None
