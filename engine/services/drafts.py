"""Drafts of a task's form: saved half-filled per task and user, restored when that user opens the task again.

Only the task's assignee keeps a draft (the form is theirs to fill once they hold the task); it is stored sealed
like submitted form data (``engine.db.casefile``). Saving and
discarding are audited on the task's stream with the names of the fields, never their values. Completing the
task removes the completer's draft in the same transaction (``engine.services.tasks.complete_task``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.orm import Session

from engine import audit
from engine.casefile.submissions import opened, sealed
from engine.context import EngineContext
from engine.db.casefile import TaskDraft
from engine.db.models import HumanTask
from engine.db.prepared import Prepared
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, InvalidTransitionError, PermissionDeniedError, TaskNotFoundError
from engine.privacy import draft_field
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role
from engine.services.instances import parse_id
from engine.views import Actor

MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class DraftView:
    data: dict[str, Any]
    saved_at: datetime


def _held(session: Session, task_id: uuid.UUID, actor: Actor) -> HumanTask:
    task = session.get(HumanTask, task_id)
    if task is None:
        raise TaskNotFoundError(f"no task {task_id}")
    if task.assignee != actor.username:
        raise PermissionDeniedError("only the task's assignee keeps a draft of its form: claim it first")
    if task.status not in OPEN_STATES:
        raise InvalidTransitionError("the task is not open", subject=str(task_id), state=task.status, action="draft")
    return task


def _checked(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not all(isinstance(k, str) and k.isidentifier() for k in data):
        raise InvalidInputError("a draft is an object of form fields")
    if len(json.dumps(data, ensure_ascii=False, default=str).encode()) > MAX_BYTES:
        raise InvalidInputError(f"a draft holds at most {MAX_BYTES // 1024} KB")
    return json.loads(json.dumps(data, default=str))


def save_draft(ctx: EngineContext, task_id: str | uuid.UUID, data: dict[str, Any], *, actor: Actor) -> DraftView:
    """Keep ``data`` as ``actor``'s draft of the task's form (replacing an earlier one). Raises TaskNotFoundError,
    PermissionDeniedError (not the assignee), InvalidTransitionError (closed), InvalidInputError (not form data)."""
    require_any_role(actor)
    key, clean, now = parse_id(task_id, "task"), _checked(data), ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        _held(session, key, actor)
        row = session.get(TaskDraft, (key, actor.username))
        stored = sealed(ctx.cipher, clean, draft_field(key, actor.username))
        if row is None:
            session.add(TaskDraft(task_id=key, username=actor.username, data_sealed=stored, saved_at=now))
        else:
            row.data_sealed, row.saved_at = stored, now
        audit.append(session, stream=f"task:{key}", actor=actor.username, action="task.draft_saved",
                     subject_type="task", subject_id=str(key), at=now, after={"fields": sorted(clean)})
    return DraftView(clean, now)


def get_draft(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> DraftView | None:
    """``actor``'s draft of the task's form, if they kept one."""
    require_any_role(actor)
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(TaskDraft, (parse_id(task_id, "task"), actor.username))
        if row is None:
            return None
        return DraftView(opened(ctx.cipher, row.data_sealed, draft_field(row.task_id, row.username)), row.saved_at)


def discard_draft(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> bool:
    """Remove ``actor``'s draft of the task; False if there was none. Audited when one is removed."""
    require_any_role(actor)
    key, now = parse_id(task_id, "task"), ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row = session.get(TaskDraft, (key, actor.username))
        if row is None:
            return False
        session.delete(row)
        audit.append(session, stream=f"task:{key}", actor=actor.username, action="task.draft_discarded",
                     subject_type="task", subject_id=str(key), at=now)
    return True


_DRAFTS = cast(Table, TaskDraft.__table__)
# A plain statement, built once: every completion issues it (the ORM's bulk delete cost five times the statement).
_REMOVE = Prepared(delete(_DRAFTS).where(_DRAFTS.c.task_id == bindparam("task"), _DRAFTS.c.username == bindparam("username")))


def remove_on_completion(session: Session, task_id: uuid.UUID, username: str) -> None:
    """The completer's draft goes with the completion (same transaction)."""
    _REMOVE.execute(session.connection(), {"task": task_id, "username": username})
