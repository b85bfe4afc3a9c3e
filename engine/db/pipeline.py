"""PostgreSQL's pipeline mode for a step: its statements sent together instead of one round trip each.

A step on PostgreSQL is a dozen statements in one transaction, and on a network (or a busy server) every
round trip costs more than the statement. Within :func:`pipelined` (psycopg 3's pipeline mode) the step's
prepared statements (``engine.db.prepared``) are queued and sent together: the lock-and-read with the
transaction's BEGIN, then all the writes up to the first one whose result is needed. What still needs its
result at once waits for it, so nothing behaves differently:

- a query run by :meth:`Prepared.rows` fetches, which sends what is queued and waits for its rows;
- any statement run the ordinary way (``connection.execute``, the ORM) is synced right after it is sent
  (``after_cursor_execute``), so SQLAlchemy sees its result, row count and errors as outside a pipeline;
- a write whose row count decides (the instance's revision check, :meth:`Prepared.execute_checked`) is
  checked when the block's results are in, before the transaction commits.

An error the server reports for a queued statement surfaces at the next sync, translated into SQLAlchemy's
exception as it would have been (IntegrityError, OperationalError for a lock). SQLite has no pipeline:
the block runs as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, StatementError

PIPELINE = "careflow.pipeline"  # Connection.info: the open pipelined block

Check = tuple[Any, Callable[[], Exception]]  # (cursor, the error to raise unless it matched exactly one row)


class _Block:
    __slots__ = ("pipeline", "checks")

    def __init__(self) -> None:
        self.pipeline: Any = None
        self.checks: list[Check] = []


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """Run the block's statements on ``connection`` in pipeline mode (PostgreSQL; elsewhere as they are)."""
    if connection.dialect.name != "postgresql" or PIPELINE in connection.info:
        yield
        return
    install(connection.engine)
    driver: Any = connection.connection.driver_connection
    block = connection.info[PIPELINE] = _Block()
    try:
        with translated(connection), driver.pipeline() as block.pipeline:
            yield
    except BaseException:
        for cursor, _fail in block.checks:
            cursor.close()
        raise
    finally:
        connection.info.pop(PIPELINE, None)
    for cursor, fail in block.checks:
        matched = cursor.rowcount
        cursor.close()
        if matched != 1:
            raise fail()


@contextmanager
def translated(connection: Connection) -> Iterator[None]:
    """Driver errors reported outside SQLAlchemy's own execution (a pipeline's sync, a fetch) as SQLAlchemy's."""
    try:
        yield
    except connection.dialect.loaded_dbapi.Error as exc:
        raise translate(connection, exc) from exc


def translate(connection: Connection, exc: Exception) -> StatementError:
    """SQLAlchemy's exception for the driver's ``exc`` (IntegrityError, OperationalError …)."""
    return DBAPIError.instance(None, None, exc, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect)


def pending_checks(connection: Connection) -> list[Check] | None:
    """The open pipelined block's row-count checks, or None outside one."""
    block: _Block | None = connection.info.get(PIPELINE)
    return block.checks if block is not None else None


def _sync_ordinary(conn: Connection, _cursor: Any, _statement: str, _parameters: Any, context: Any,
                   executemany: bool) -> None:
    # A statement run the ordinary way (it has an execution context; the prepared ones have none): SQLAlchemy reads
    # its description and row count right after this, so its result must be in. Not for several rows inserted at
    # once without RETURNING: nothing of their result is read.
    if context is not None and not (executemany and context.isinsert and not context.compiled.effective_returning):
        block: _Block | None = conn.info.get(PIPELINE)
        if block is not None and block.pipeline is not None:
            block.pipeline.sync()


def install(engine: Engine) -> None:
    """Sync the ordinary statements of a pipelined block (once per engine; :func:`pipelined` makes sure)."""
    if not event.contains(engine, "after_cursor_execute", _sync_ordinary):
        event.listen(engine, "after_cursor_execute", _sync_ordinary)
