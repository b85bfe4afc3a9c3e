"""Database engine creation and the unit of work.

SQLite: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for write units so
that two writers queue instead of failing when one upgrades a read lock. PostgreSQL:
plain READ COMMITTED transactions; commands lock instance rows with ``FOR UPDATE``.

Waiting for SQLite's write lock (docs/perf/README.md, "The HTTP path"): ``BEGIN IMMEDIATE`` does not use SQLite's
own busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25 … 100 ms between tries — a writer that finds the lock taken
then sleeps well past its release (a step holds it for about a millisecond), and the web workers' writers queue
behind each other's sleeps. It tries again after short sleeps instead (:func:`begin_immediate`), within the same
30 s. Every other statement keeps the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from engine.config import Settings
from engine.errors import ConcurrentModificationError

BUSY_TIMEOUT_S = 30.0
_BUSY_TIMEOUT = f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}"
# Sleeps between tries of BEGIN IMMEDIATE while another connection writes: short first (a step's write holds the lock
# for about a millisecond), longer for a long writer (a migration, a backup, a bulk import).
_FIRST_PAUSE_S, _PAUSE_GROWTH, _LONGEST_PAUSE_S = 0.0001, 1.2, 0.002


def make_db_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        engine = create_engine(
            settings.database.url,
            echo=settings.database.echo_sql,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
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
        cursor.execute(_BUSY_TIMEOUT)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight to the driver: every transaction begins here, and a statement through SQLAlchemy's execution
        # machinery costs more than SQLite's BEGIN itself. COMMIT and ROLLBACK go through the driver already.
        options = conn.get_execution_options()
        if options.get("careflow_no_snapshot"):
            return  # reads outside a transaction: each statement is its own (unit_of_work(snapshot=False))
        write = options.get("careflow_write")
        statement = "BEGIN IMMEDIATE" if write else "BEGIN DEFERRED"
        try:
            if write:
                begin_immediate(conn.connection.driver_connection)
            else:
                conn.connection.driver_connection.execute(statement)
        except sqlite3.OperationalError as exc:  # "database is locked" after the busy timeout: as SQLAlchemy raises it
            raise OperationalError(statement, None, exc) from exc


def begin_immediate(driver: sqlite3.Connection, timeout: float = BUSY_TIMEOUT_S) -> int:
    """``BEGIN IMMEDIATE``, waiting up to ``timeout`` seconds for another connection's write lock with short sleeps
    (not SQLite's busy handler: see the module's docstring). Returns how many tries were refused (0: the lock was
    free). Raises sqlite3.OperationalError ("database is locked") when the time is up, as the busy timeout would."""
    driver.execute("PRAGMA busy_timeout=0")  # a refused try returns at once (a PRAGMA costs a few microseconds)
    try:
        refused, pause, deadline = 0, _FIRST_PAUSE_S, 0.0
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return refused
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                now = time.monotonic()
                if not refused:
                    deadline = now + timeout
                elif now >= deadline:
                    raise
            refused += 1
            time.sleep(pause)
            pause = min(pause * _PAUSE_GROWTH, _LONGEST_PAUSE_S)
    finally:
        driver.execute(_BUSY_TIMEOUT)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, or one of its extended codes (a WAL recovery or a stale snapshot: worth another try too)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


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
