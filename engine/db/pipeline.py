"""PostgreSQL's pipeline mode for a step: its statements sent together instead of one round trip each.

A step on PostgreSQL is a dozen statements in one transaction, and on a network (or a busy server) every
round trip costs more than the statement. Within :func:`pipelined` (psycopg 3's pipeline mode) the step's
prepared statements (``engine.db.prepared``) are queued and sent together: the lock-and-read with the
transaction's BEGIN, then all the writes up to the first one whose result is needed. What still needs its
result at once waits for it, so nothing behaves differently:

- a query run by :meth:`Prepared.rows` fetches, which sends what is queued and waits for its rows;
- any statement run the ordinary way (``connection.execute``, the ORM) is synced right after it is sent (the
  block's cursors do that unless a prepared statement marks its own queued), so SQLAlchemy sees its result,
  row count and errors as outside a pipeline;
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

from sqlalchemy.engine import Connection
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
    driver: Any = connection.connection.driver_connection
    block = connection.info[PIPELINE] = _Block()
    # Cursors made in the block sync after each statement unless marked queued (the prepared ones). A listener on
    # SQLAlchemy's statement events would do the same, but make every statement of the process (an engine
    # listener) or of the transaction (a connection listener) pay the event dispatch: +3.5 % of a lifecycle's
    # client instructions on PostgreSQL (docs/perf/README.md, round 2).
    factory = driver.cursor_factory
    driver.cursor_factory = _syncing_cursor()
    try:
        with translated(connection), driver.pipeline() as block.pipeline:
            _OPEN[id(driver)] = block.pipeline
            yield
    except BaseException:
        for cursor, _fail in block.checks:
            cursor.close()
        raise
    finally:
        connection.info.pop(PIPELINE, None)
        _OPEN.pop(id(driver), None)
        driver.cursor_factory = factory
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


_OPEN: dict[int, Any] = {}  # id(psycopg connection) → its open Pipeline
_SYNCING: Any = None


def _syncing_cursor() -> Any:
    """psycopg's cursor, synced after each statement unless ``queued`` (set by ``engine.db.prepared``): a statement
    run the ordinary way has its result, row count and errors in when SQLAlchemy reads them."""
    global _SYNCING
    if _SYNCING is None:
        import psycopg

        class SyncingCursor(psycopg.Cursor[Any]):
            queued = False

            def execute(self, *args: Any, **kwargs: Any) -> Any:
                result = super().execute(*args, **kwargs)
                self._sync()
                return result

            def executemany(self, *args: Any, **kwargs: Any) -> None:
                super().executemany(*args, **kwargs)
                self._sync()

            def _sync(self) -> None:
                pipeline = None if self.queued else _OPEN.get(id(self.connection))
                if pipeline is not None:
                    pipeline.sync()

        _SYNCING = SyncingCursor
    return _SYNCING


def mark_queued(connection: Connection, cursor: Any) -> None:
    """A prepared statement's cursor: its result is fetched or checked later, it need not be synced."""
    if PIPELINE in connection.info:
        cursor.queued = True
