"""Running a report's independent queries side by side.

A report page is a handful of grouped queries over different tables, none needing another's result.
One after another, the page costs their sum; here they run on separate connections at once
(``settings.report_parallelism``, default 4; the database drivers release the GIL while a query runs), so
the page costs about its slowest query. Each query reads in its own read-only transaction: figures of one
page may differ by what was committed in between (the widgets of a dashboard are not one snapshot). A
parallelism of 1 runs them one after another in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.db.session import unit_of_work


def gather(ctx: EngineContext, queries: Mapping[str, Callable[[Session], Any]]) -> dict[str, Any]:
    """``{name: query(session)}``; pass the slowest queries first. The first failure is raised."""
    parallel = min(ctx.settings.report_parallelism, len(queries))
    if parallel <= 1:
        with unit_of_work(ctx.sessions, write=False) as session:
            return {name: query(session) for name, query in queries.items()}

    def alone(query: Callable[[Session], Any]) -> Any:
        with unit_of_work(ctx.sessions, write=False) as session:
            return query(session)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="careflow-report") as pool:
        futures = {name: pool.submit(alone, query) for name, query in queries.items()}
        return {name: future.result() for name, future in futures.items()}
