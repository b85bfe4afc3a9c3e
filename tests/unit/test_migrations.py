"""The Alembic history has one head and the migrated schema matches the models exactly."""

from __future__ import annotations

from engine.db import migrate


def test_single_head_and_no_drift(db):
    assert migrate.heads(db) == ["0029"]
    assert migrate.current(db) == "0029"
    assert migrate.schema_drift(db) == []
