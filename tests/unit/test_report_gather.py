"""Report queries side by side (engine.reporting.gather): same answers, really concurrent, failures raised."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import select, text

from engine.reporting.gather import gather


def _with_parallelism(ctx, n):
    core = dataclasses.replace(ctx.settings.core, report_parallelism=n)
    return dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, core=core))


def test_queries_run_at_once_on_their_own_connections(ctx):
    parallel = _with_parallelism(ctx, 3)
    meeting = threading.Barrier(3, timeout=10)  # broken (an error) unless all three queries are running together

    def query(value):
        def run(session):
            session.execute(select(1))
            meeting.wait()
            return value, threading.get_ident()
        return run

    result = gather(parallel, {"a": query("A"), "b": query("B"), "c": query("C")})
    assert list(result) == ["a", "b", "c"]
    assert [value for value, _ in result.values()] == ["A", "B", "C"]
    assert len({thread for _, thread in result.values()}) == 3


def test_parallelism_one_runs_them_in_one_transaction_on_this_thread(ctx):
    sequential = _with_parallelism(ctx, 1)
    seen = []

    def query(session):
        seen.append((id(session), threading.get_ident()))
        return session.scalar(text("SELECT 2"))

    assert gather(sequential, {"x": query, "y": query}) == {"x": 2, "y": 2}
    assert len(set(seen)) == 1 and seen[0][1] == threading.get_ident()


def test_a_failing_query_fails_the_report(ctx):
    def broken(session):
        session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(Exception, match="no_such_table"):
        gather(_with_parallelism(ctx, 4), {"ok": lambda s: s.scalar(select(1)), "broken": broken})


def test_on_postgresql_every_query_of_a_page_reads_one_snapshot(ctx, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite connections cannot share a snapshot (documented in engine.reporting.gather)")

    def count(session):
        return session.scalar(text("SELECT count(*) FROM calendar_year"))

    for parallelism in (4, 1):
        committed = threading.Event()

        def count_commit_count(session, year=2090 + parallelism, committed=committed):
            before = count(session)
            with ctx.db.begin() as conn:  # another transaction commits a row while the page is being read
                conn.execute(text("INSERT INTO calendar_year (year, source, created_by, created_at) "
                                  "VALUES (:year, 'x', 'test', now())"), {"year": year})
            committed.set()
            return before, count(session)

        def count_after_the_commit(session, committed=committed):
            assert committed.wait(10)
            return count(session)

        result = gather(_with_parallelism(ctx, parallelism),
                        {"writer": count_commit_count, "reader": count_after_the_commit})
        before, after = result["writer"]
        assert before == after == result["reader"], parallelism
        with ctx.sessions() as session:
            assert count(session) == before + 1  # the row is there for the next page
