"""Running a report's independent queries side by side, over one snapshot of the data.

A report page is a handful of grouped queries over different tables, none needing another's result.
One after another, the page costs their sum; here they run on separate connections at once
(``settings.core.report_parallelism``, default 4; the database drivers release the GIL while a query runs), so
the page costs about its slowest query.

On PostgreSQL every query reads the same snapshot: a leading REPEATABLE READ transaction exports it
(``pg_export_snapshot``) and stays open while each query's transaction imports it (``SET TRANSACTION SNAPSHOT``),
so the figures of one page add up even while work is being committed. SQLite connections cannot share a
snapshot: there each query reads in its own read-only transaction, and figures of one page may differ by what
was committed in between. A parallelism of 1 runs the queries one after another in one transaction, which is
one snapshot on both databases (REPEATABLE READ on PostgreSQL).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.db.session import unit_of_work

SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")


def gather(ctx: EngineContext, queries: Mapping[str, Callable[[Session], Any]]) -> dict[str, Any]:
    """``{name: query(session)}``; pass the slowest queries first. The first failure is raised."""
    parallel = min(ctx.settings.core.report_parallelism, len(queries))
    if parallel <= 1:
        with unit_of_work(ctx.sessions, write=False) as session:
            if not ctx.settings.is_sqlite:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return {name: query(session) for name, query in queries.items()}
    if ctx.settings.is_sqlite:
        return _side_by_side(ctx, queries, parallel, lambda session: None)
    with unit_of_work(ctx.sessions, write=False) as lead:
        lead.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        snapshot = str(lead.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        if not SNAPSHOT_ID.fullmatch(snapshot):
            raise RuntimeError(f"unexpected snapshot id {snapshot!r}")

        def adopt(session: Session) -> None:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))  # no parameters in SET; checked above

        return _side_by_side(ctx, queries, parallel, adopt)  # the lead stays open until every query has run


def _side_by_side(ctx: EngineContext, queries: Mapping[str, Callable[[Session], Any]], parallel: int,
                  begin: Callable[[Session], None]) -> dict[str, Any]:
    def alone(query: Callable[[Session], Any]) -> Any:
        with unit_of_work(ctx.sessions, write=False) as session:
            begin(session)
            return query(session)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="careflow-report") as pool:
        futures = {name: pool.submit(alone, query) for name, query in queries.items()}
        return {name: future.result() for name, future in futures.items()}
