"""Revision 0026 on a database with running and finished work: the user tasks already in ``human_task`` become the
first rows of ``activity_history`` (same id, so the step closes the open ones when their tasks end)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, column, insert, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import TableClause

from engine.db import migrate
from engine.db.history import ActivityHistory
from engine.db.models import HumanTask, ProcessDefinition, ProcessInstance
from tests.unit.test_migration_0020 import fresh  # noqa: F401 - the empty database fixture

AT = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


def _columns(model: type, *names: str) -> TableClause:
    """The model's table with only these columns: later revisions add columns (and defaults) 0025 does not have."""
    return table(_table(model).name, *(column(name, _table(model).c[name].type) for name in names))


def test_user_tasks_already_known_become_activity_history(fresh: Engine) -> None:  # noqa: F811
    migrate.upgrade(fresh, "0025")
    instance = uuid.uuid4()
    done, waiting, dropped = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    task = {"instance_id": instance, "process_key": "req", "title": "t", "priority": 50, "candidate_groups": "",
            "candidate_users": "", "excluded_users": "", "completed_at": None, "completed_by": None, "assignee": None}
    with fresh.begin() as conn:
        definition = {"id": 7, "key": "req", "version": 3, "name": "req", "sha256": "0" * 64, "deployed_by": "d",
                      "deployed_at": AT}
        conn.execute(insert(_columns(ProcessDefinition, *definition)), definition)
        row = {"id": instance, "definition_id": 7, "process_key": "req", "status": "running", "state": "x",
               "state_version": 1, "revision": 1, "started_by": "s", "started_at": AT, "updated_at": AT}
        conn.execute(insert(_columns(ProcessInstance, *row)), row)
        conn.execute(insert(_table(HumanTask)), [
            {**task, "id": done, "task_name": "write", "status": "completed", "created_at": AT,
             "completed_at": AT + timedelta(minutes=9), "completed_by": "alice"},
            {**task, "id": waiting, "task_name": "check", "status": "claimed", "created_at": AT + timedelta(minutes=9),
             "assignee": "bob"},
            {**task, "id": dropped, "task_name": "remind", "status": "cancelled", "created_at": AT,
             "completed_at": AT + timedelta(minutes=9)},
        ])
    migrate.upgrade(fresh)
    with fresh.connect() as conn:
        rows = {r.id: (r.definition_id, r.element_id, r.element_type, r.started_at, r.ended_at, r.outcome, r.actor)
                for r in conn.execute(select(_table(ActivityHistory)))}
    later = AT + timedelta(minutes=9)
    assert rows == {
        done: (7, "write", "userTask", AT, later, "completed", "alice"),
        waiting: (7, "check", "userTask", later, None, None, None),
        dropped: (7, "remind", "userTask", AT, later, "cancelled", None),
    }
