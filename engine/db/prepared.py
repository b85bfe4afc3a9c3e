"""Statements of the engine's hot path compiled once per dialect and run straight on the driver's cursor.

``connection.execute(statement, params)`` costs about ten times what SQLite spends on the statement itself:
cache-key generation, a new execution context, result set-up, parameter processing through the compiled
statement. Every step issues a dozen writes whose result is at most a row count, so :class:`Prepared` keeps the
compiled SQL, parameter order and type processors per dialect, and hands the values to
``Connection._cursor_execute``: SQLAlchemy's own path for a driver-level statement, which still fires the
``before_cursor_execute``/``after_cursor_execute`` events (statement counts, tracing), logs with ``echo`` and
translates driver errors into SQLAlchemy's (IntegrityError, OperationalError: lock failures). A statement that
needs more of the execution context (Python-side column defaults, several parameter sets) goes the ordinary way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

from engine.db.pipeline import mark_queued, pending_checks, translate


class _Compiled:
    __slots__ = ("compiled", "sql", "order", "processors", "constants", "positional", "results")

    def __init__(self, statement: UpdateBase | Select[Any], dialect: Dialect, keys: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.sql = compiled.string
        self.positional = dialect.positional
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ()) if self.positional else tuple(
            compiled.bind_names.values())
        self.processors: dict[str, Any] = dict(compiled._bind_processors)
        # Values bound in the statement itself (``revision + 1``, a fixed status): taken from the statement.
        self.constants = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                          if name not in keys}
        # A query's columns as the driver returns them → as SQLAlchemy would (a UUID from SQLite's text, say).
        self.results: list[Any] = [column.type._cached_result_processor(dialect, None)
                                   for column in getattr(statement, "selected_columns", ())]

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        constants, processors = self.constants, self.processors
        out = []
        for name in self.order:
            value = params[name] if name in params else constants[name]
            processor = processors.get(name)
            out.append(processor(value) if processor is not None else value)
        return tuple(out) if self.positional else dict(zip(self.order, out, strict=True))


class Prepared:
    """A write statement (INSERT, UPDATE, DELETE) run by :meth:`execute`, or a query run by :meth:`rows`, with
    bound parameters."""

    def __init__(self, statement: UpdateBase | Select[Any]) -> None:
        self.statement = statement
        self._by_shape: dict[tuple[str, tuple[str, ...]], _Compiled | None] = {}

    def _compiled(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled | None:
        shape = (dialect.name, keys)
        try:
            return self._by_shape[shape]
        except KeyError:
            pass
        compiled: _Compiled | None = _Compiled(self.statement, dialect, keys)
        assert compiled is not None
        inner = compiled.compiled
        # Python-side defaults (prefetch) and expanding IN lists need the execution context: the ordinary way.
        if inner.insert_prefetch or inner.update_prefetch or inner.escaped_bind_names or not all(
                callable(p) for p in compiled.processors.values()) or any(
                bind.expanding for bind in inner.bind_names) or not set(compiled.order) <= set(keys) | set(
                compiled.constants):
            compiled = None
        self._by_shape[shape] = compiled
        return compiled

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Run with ``params``; the number of rows it matched (an INSERT that went the ordinary way on PostgreSQL
        may not say: -1)."""
        compiled = self._compiled(connection.dialect, tuple(params))
        if compiled is None:
            return int(connection.execute(self.statement, dict(params)).rowcount)
        cursor = connection.connection.cursor()
        mark_queued(connection, cursor)
        try:
            connection._cursor_execute(cursor, compiled.sql, compiled.values(params))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute_many(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Run once per row of ``rows`` (all with the same keys) in one driver call (``executemany``), as
        ``connection.execute(statement, rows)`` would: the statement events fire once, with ``executemany`` set."""
        if len(rows) == 1:
            self.execute(connection, rows[0])
            return
        keys = tuple(rows[0])
        compiled = self._compiled(connection.dialect, keys)
        if compiled is None or any(tuple(row) != keys for row in rows):
            connection.execute(self.statement, rows)
            return
        sql: str = compiled.sql
        params: Any = [compiled.values(row) for row in rows]
        cursor = connection.connection.cursor()
        mark_queued(connection, cursor)
        try:
            events = connection._has_events or connection.engine._has_events
            if events:
                for fn in connection.dispatch.before_cursor_execute:
                    sql, params = fn(connection, cursor, sql, params, None, True)
            if connection._echo:
                connection._log_info(sql)
                connection._log_parameters(params, "raw sql", ismulti=True)
            connection.dialect.do_executemany(cursor, sql, params, None)
            if events:
                connection.dispatch.after_cursor_execute(connection, cursor, sql, params, None, True)
        except BaseException as exc:
            connection._handle_dbapi_exception(exc, sql, params, cursor, None)
        finally:
            cursor.close()

    def execute_checked(self, connection: Connection, params: Mapping[str, Any], fail: Callable[[], Exception]) -> None:
        """Run with ``params`` and raise ``fail()`` unless exactly one row matched: at once, or in a pipelined block
        (``engine.db.pipeline``) when the block's results are in, before its transaction commits."""
        compiled = self._compiled(connection.dialect, tuple(params))
        checks = pending_checks(connection)
        if compiled is None or checks is None:
            if self.execute(connection, params) != 1:
                raise fail()
            return
        cursor = connection.connection.cursor()
        mark_queued(connection, cursor)
        try:
            connection._cursor_execute(cursor, compiled.sql, compiled.values(params))
        except BaseException:
            cursor.close()
            raise
        checks.append((cursor, fail))

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a query with ``params``: its rows, each value as SQLAlchemy's column type gives it."""
        compiled = self._compiled(connection.dialect, tuple(params))
        if compiled is None:
            return [tuple(row) for row in connection.execute(self.statement, dict(params))]
        cursor = connection.connection.cursor()
        mark_queued(connection, cursor)
        try:
            connection._cursor_execute(cursor, compiled.sql, compiled.values(params))
            try:
                found = cursor.fetchall()
            except connection.dialect.loaded_dbapi.Error as exc:  # in a pipelined block, an earlier statement's
                raise translate(connection, exc) from exc  # error surfaces here
        finally:
            cursor.close()
        processors = compiled.results
        if not any(processors):
            return [tuple(row) for row in found]
        return [tuple(value if p is None or value is None else p(value) for p, value in zip(processors, row, strict=True))
                for row in found]
