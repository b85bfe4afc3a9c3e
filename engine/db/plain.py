"""One read statement run straight on a pooled driver connection, for the reads made on every request.

SQLAlchemy's execution path (execution context, events, result wrapping, a transaction begun and rolled back)
costs several times what a one-row indexed read costs the database. :class:`PlainRead` compiles its statement
once per dialect and runs it on a connection from the engine's pool, outside any transaction (SQLite reads in
autocommit mode; on PostgreSQL the pool rolls back when the connection goes back). Its parameters and result
columns must be plain strings and numbers that need no type conversion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # bind names in order, for drivers with positional parameters


class PlainRead:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            result = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            positions = tuple(result.positiontup or ()) if dialect.positional else None
            compiled = self._compiled[dialect.name] = _Compiled(result.string, positions)
        return compiled

    def all(self, engine: Engine, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        compiled = self._compile(engine.dialect)
        args: Any = [params[name] for name in compiled.positions] if compiled.positions is not None else dict(params)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(compiled.sql, args)
                return [tuple(row) for row in cursor.fetchall()]
            finally:
                cursor.close()
        finally:
            connection.close()
