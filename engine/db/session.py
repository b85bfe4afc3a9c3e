"""Database engine creation and the unit of work.

SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for write units so
that two writers queue instead of failing when one upgrades a read lock. PostgreSQL:
plain READ COMMITTED transactions; commands lock instance rows with ``FOR UPDATE``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.config import Settings
from engine.errors import ConcurrentModificationError


def make_db_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        engine = create_engine(
            settings.database.url,
            echo=settings.database.echo_sql,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        configure_sqlite(engine)
        return engine
    return create_engine(
        settings.database.url, echo=settings.database.echo_sql, pool_size=settings.database.pool_size,
        max_overflow=settings.database.max_overflow, pool_pre_ping=True
    )


def configure_sqlite(engine: Engine) -> None:
    """CareFlow's SQLite connection settings and transaction control (also for in-memory databases)."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so we can say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: every transaction begins here, and a statement through SQLAlchemy's execution
        # machinery costs more than SQLite's BEGIN itself. COMMIT and ROLLBACK go through the driver already.
        options = conn.get_execution_options()
        if options.get("careflow_no_snapshot"):
            return  # reads outside a transaction: each statement is its own (unit_of_work(snapshot=False))
        statement = "BEGIN IMMEDIATE" if options.get("careflow_write") else "BEGIN DEFERRED"
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.OperationalError as exc:  # "database is locked" after the busy timeout: as SQLAlchemy raises it
            raise OperationalError(statement, None, exc) from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


_NO_TRANSACTION = {"careflow_no_snapshot": True}  # SQLite
_NO_SNAPSHOT = {"careflow_no_snapshot": True, "isolation_level": "AUTOCOMMIT"}  # PostgreSQL


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool = True, snapshot: bool = True) -> Iterator[Session]:
    """One transaction: commit if the block succeeds, roll back on any exception.

    ``snapshot=False`` (reads only): on SQLite no transaction at all, each statement reads on its own and no
    BEGIN/COMMIT pair is paid — for a caller whose later write checks what it read (the step's revision check);
    PostgreSQL reads in a transaction all the same. A lock that cannot be had (SQLite's busy timeout, a PostgreSQL
    lock timeout or deadlock) surfaces as :class:`ConcurrentModificationError`.
    """
    session = factory()
    try:
        if write:
            session.connection(execution_options={"careflow_write": True})
        elif not snapshot:
            # SQLite: the begin listener leaves the transaction out; PostgreSQL: autocommit (no BEGIN/COMMIT round
            # trips), which the pool undoes when the connection goes back.
            session.connection(execution_options=_NO_SNAPSHOT if factory.kw["bind"].dialect.name == "postgresql"
                               else _NO_TRANSACTION)
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        if _is_lock_failure(exc):
            raise ConcurrentModificationError("the instance is busy; retry") from exc
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _is_lock_failure(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "could not obtain lock" in text or "deadlock" in text
