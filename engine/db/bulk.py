"""Writes of a bulk start gathered per statement and sent as one multi-row INSERT each (docs/decisions.md §23).

A bulk start (``engine.services.instances.start_instances``: the care waves) stores a batch of new instances in one
transaction. Each new instance's leaf rows (its pending timers, message subscriptions, activity history and audit
events) are plain INSERTs whose results nobody reads and which nothing in the same transaction reads back; issued
one statement per row they cost a round trip each (four per instance). Inside :func:`gathered` they are collected
per statement and sent at the end of the block, before the commit, as one ``executemany`` per statement (SQLAlchemy's
multi-row ``INSERT … VALUES``), in the order each statement was first seen. The instance rows themselves are not
gathered: other rows of the same step (a first human task) refer to them and go out at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

_KEY = "careflow.gathered_writes"


class Gathered:
    def __init__(self) -> None:
        self._by_statement: dict[int, tuple[Any, list[dict[str, Any]]]] = {}

    def add(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        self._by_statement.setdefault(id(statement), (statement, []))[1].extend(rows)

    def send(self, session: Session) -> None:
        connection = session.connection()
        for statement, rows in self._by_statement.values():
            if rows:
                connection.execute(statement, rows)
        self._by_statement.clear()


@contextmanager
def gathered(session: Session) -> Iterator[None]:
    """Gather the leaf INSERTs of the block (see the module) and send them when it ends without an error."""
    writes = session.info[_KEY] = Gathered()
    try:
        yield
        writes.send(session)
    finally:
        session.info.pop(_KEY, None)


def gathering(session: Session) -> Gathered | None:
    """The open gathering of this session's transaction, or None: write at once."""
    found = session.info.get(_KEY)
    return found if isinstance(found, Gathered) else None
