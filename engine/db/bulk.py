"""Writes of a bulk start gathered per statement and sent as one multi-row INSERT each (docs/decisions.md §23).

A bulk start (``engine.services.instances.start_instances``: the care waves) stores a batch of new instances in one
transaction. Each new instance's row and its leaf rows (pending timers, message subscriptions, activity history,
audit events) are plain INSERTs whose results nobody reads; issued one statement per row they cost a round trip each
(five per instance). Inside :func:`gathered` they are collected per statement and sent at the end of the block,
before the commit, as one ``executemany`` per statement (SQLAlchemy's multi-row ``INSERT … VALUES``), in the order
each statement was first seen (the instance rows first: the others refer to them). Whatever must see them goes
after a :meth:`Gathered.send`: the projection sends before it writes a first human task (task rows refer to the
instance, routing counts tasks), and an ORM flush inside the block (the outbox rows of a step, an ``on_started``
hook reading a customer) sends first through the session's ``before_flush`` event.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "careflow.gathered_writes"


class Gathered:
    def __init__(self) -> None:
        self._by_statement: dict[int, tuple[Any, list[dict[str, Any]]]] = {}

    def add(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        self._by_statement.setdefault(id(statement), (statement, []))[1].extend(rows)

    def send(self, session: Session) -> None:
        """Send what was gathered, per statement in the order each was first seen in the block. The order is kept
        across sends: were it started afresh, a history row gathered after a send (an instance that waits on a task)
        would go before the instance row of the next instance it names (a foreign key error)."""
        connection = session.connection()
        for statement, rows in self._by_statement.values():
            if rows:
                connection.execute(statement, rows)
                rows.clear()


@contextmanager
def gathered(session: Session) -> Iterator[None]:
    """Gather the leaf INSERTs of the block (see the module) and send them when it ends without an error."""
    writes = session.info[_KEY] = Gathered()

    def before_flush(flushing: Session, _context: object, _instances: object) -> None:
        writes.send(flushing)

    event.listen(session, "before_flush", before_flush)
    try:
        yield
        writes.send(session)
    finally:
        event.remove(session, "before_flush", before_flush)
        session.info.pop(_KEY, None)


def gathering(session: Session) -> Gathered | None:
    """The open gathering of this session's transaction, or None: write at once."""
    found = session.info.get(_KEY)
    return found if isinstance(found, Gathered) else None
