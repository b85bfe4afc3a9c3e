"""What the inbox needs beyond the task list: process names and "claim next" (complaints' regulatory countdowns:
engine.complaints.countdowns).

"Claim next" takes the best open task the actor may claim (highest priority, earliest due, oldest) through the
ordinary claim transition, so it is checked, atomic and audited like a claim from the task page. Two people
asking at once may pick the same candidate; the claim transition lets only one of them have it (a row lock on
PostgreSQL, a revision check on SQLite), and the other simply goes on to the next candidate.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.db.models import ProcessDefinition
from engine.db.session import unit_of_work
from engine.errors import ConflictError, PermissionDeniedError, TaskNotFoundError
from engine.services import task_queries as queries
from engine.services import tasks
from engine.services.authz import require_any_role
from engine.views import Actor, TaskView

CANDIDATES = 10  # read this many at a time; a round where all were taken by others reads the next ones
ROUNDS = 5


def process_names(ctx: EngineContext) -> dict[str, str]:
    """Process key → the name of its latest deployed version (as the designer wrote it)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        newest = (select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("version"))
                  .group_by(ProcessDefinition.key).subquery())
        found = session.execute(
            select(ProcessDefinition.key, ProcessDefinition.name)
            .join(newest, (ProcessDefinition.key == newest.c.key) & (ProcessDefinition.version == newest.c.version))
        ).all()
    return {key: name for key, name in found}


def matching_keys(ctx: EngineContext, text: str) -> tuple[str, ...]:
    """The process keys a person means by ``text``: the key itself, or every process whose name (in either of its
    languages) contains the text, ignoring case. Empty when nothing matches."""
    wanted = text.strip().casefold()
    if not wanted:
        return ()
    names = process_names(ctx)
    exact = [key for key in names if key.casefold() == wanted]
    if exact:
        return tuple(exact)
    return tuple(sorted(key for key, name in names.items() if wanted in name.casefold()))


def claim_next(ctx: EngineContext, *, actor: Actor, filters: tasks.TaskFilters = tasks.NO_FILTERS) -> TaskView | None:
    """Claim the best next task for ``actor`` from their queue (narrowed by ``filters``); None when there is none.

    Candidates someone else claimed in the meantime, or that the process keeps from this actor (four eyes), are
    skipped. Raises PermissionDeniedError (no role)."""
    require_any_role(actor)
    shape, params = tasks.queue_request(ctx, actor, filters)
    tried: set[uuid.UUID] = set()
    for _ in range(ROUNDS):
        with unit_of_work(ctx.sessions, write=False) as session:
            found = _candidates(session, shape, params, tried)
        if not found:
            return None
        for task_id in found:
            tried.add(task_id)
            try:
                return tasks.claim_task(ctx, task_id, actor=actor)
            except (ConflictError, PermissionDeniedError, TaskNotFoundError):
                continue  # taken by someone else, or not for this actor after all: the next one
    return None


def _candidates(session: Session, shape: queries.Shape, params: dict[str, Any],
                tried: set[uuid.UUID]) -> list[uuid.UUID]:
    """The next candidates not tried yet: the highest priority first (each priority level best by due, then age),
    descending to the next level when every task at this one was tried."""
    top: int | None = None
    while True:
        levels = session.scalars(queries.list_statement(shape), {**params, "limit": len(tried) + 1}).all()
        ranked = [row.priority for row in levels if row.id not in tried and (top is None or row.priority < top)]
        if not ranked:
            return []
        top = max(ranked)
        found = session.scalars(queries.next_statement(shape),
                                {**params, "top": top, "limit": CANDIDATES + len(tried)}).all()
        fresh = [i for i in found if i not in tried]
        if fresh:
            return fresh
