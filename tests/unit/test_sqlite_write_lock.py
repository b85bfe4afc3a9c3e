"""Waiting for SQLite's write lock (engine.db.session.begin_immediate): short tries instead of SQLite's busy handler.

The clock and the sleeps are replaced (no real sleeping): a refused try must lead to a sleep, the next try must take
the lock once the other writer has committed, the time is bounded, and every other statement keeps the busy timeout.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from engine.db import session as db_session
from engine.db.session import BUSY_TIMEOUT_S, begin_immediate, configure_sqlite


def _pair(tmp_path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    path = tmp_path / "lock.db"
    first, second = (sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S) for _ in range(2))
    first.execute("PRAGMA journal_mode=WAL")
    first.execute("CREATE TABLE t (n INTEGER)")
    return first, second


def _busy_timeout(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])


class FakeTime:
    """time.monotonic and time.sleep for the session module: sleeping moves the clock and may run ``on_sleep``."""

    def __init__(self, on_sleep=None) -> None:
        self.now, self.sleeps, self.on_sleep = 1000.0, [], on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def test_a_free_lock_is_taken_at_once_and_the_busy_timeout_stays(tmp_path, monkeypatch):
    _holder, writer = _pair(tmp_path)
    fake = FakeTime()
    monkeypatch.setattr(db_session, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep))
    assert begin_immediate(writer) == 0
    assert writer.in_transaction and fake.sleeps == []
    assert _busy_timeout(writer) == int(BUSY_TIMEOUT_S * 1000)
    writer.execute("COMMIT")


def test_a_taken_lock_is_tried_again_after_short_sleeps_until_the_other_writer_commits(tmp_path, monkeypatch):
    holder, writer = _pair(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")

    def release(sleeps: int) -> None:
        if sleeps == 3:
            holder.execute("COMMIT")

    fake = FakeTime(release)
    monkeypatch.setattr(db_session, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep))
    assert begin_immediate(writer) == 3
    assert writer.in_transaction
    # Well under SQLite's own first sleeps (1 ms, then 2 ms): the lock is taken again within half a millisecond.
    assert sum(fake.sleeps) < 0.0005 and fake.sleeps == sorted(fake.sleeps)
    assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    writer.execute("COMMIT")
    assert _busy_timeout(writer) == int(BUSY_TIMEOUT_S * 1000)


def test_the_wait_is_bounded_and_ends_as_database_is_locked(tmp_path, monkeypatch):
    holder, writer = _pair(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    fake = FakeTime()
    monkeypatch.setattr(db_session, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep))
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        begin_immediate(writer, timeout=1.0)
    assert 1.0 <= sum(fake.sleeps) < 1.01
    assert max(fake.sleeps) <= 0.002  # a long wait still looks again every 2 ms
    assert not writer.in_transaction
    assert _busy_timeout(writer) == int(BUSY_TIMEOUT_S * 1000)
    holder.execute("ROLLBACK")


def test_write_units_of_an_engine_wait_for_each_other_and_reads_are_not_blocked(tmp_path, monkeypatch):
    """Through SQLAlchemy as the engine uses it: a write transaction that finds the lock taken waits with short
    sleeps (here: until the other commits), a read transaction meanwhile is not held up at all (WAL)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'e.db'}", connect_args={"timeout": BUSY_TIMEOUT_S})
    configure_sqlite(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    other = engine.connect().execution_options(careflow_write=True)
    other.begin()
    other.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as reader:  # BEGIN DEFERRED: reads the last committed state while the lock is held
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0

    def release(sleeps: int) -> None:
        if sleeps == 2:
            other.commit()

    fake = FakeTime(release)
    monkeypatch.setattr(db_session, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep))
    with engine.connect().execution_options(careflow_write=True) as writer, writer.begin():
        writer.execute(text("INSERT INTO t VALUES (2)"))
    assert len(fake.sleeps) == 2
    with engine.connect() as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 2
    other.close()
    engine.dispose()
