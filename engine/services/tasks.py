"""The human-task use cases: list, read, claim, unclaim, assign, delegate/resolve, update, complete."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine import notify
from engine.casefile import submissions
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import (
    EngineError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
    TaskNotFoundError,
)
from engine.inputs import check_value
from engine.runtime import four_eyes, lifecycle, rows
from engine.runtime import instance as runtime
from engine.runtime import step as steps
from engine.runtime.projection import OPEN_STATES
from engine.services import drafts
from engine.services import task_queries as queries
from engine.services.authz import require_any_role, require_role
from engine.services.instances import parse_id
from engine.services.taskviews import task_view
from engine.views import Actor, TaskPage, TaskView

MAX_LIMIT = 200
COUNT_CAP = 1000  # counts stop here: "1000+" on a page, ``count_capped`` in the API


@dataclass(frozen=True)
class TaskFilters:
    """What a task list is narrowed to; None or False: no narrowing."""

    process: str | None = None
    process_keys: tuple[str, ...] | None = None  # one of these keys (a process name matching several; () : none)
    customer: str | None = None
    overdue: bool | None = None  # True: past due; False: not past due (or no due time)
    q: str | None = None  # text in the title or task name
    priority_min: int | None = None  # priority at least this (0–100)
    due_before: datetime | None = None  # due at or before
    follow_up_before: datetime | None = None  # follow-up date at or before ("to follow up now")


NO_FILTERS = TaskFilters()


def list_tasks(
    ctx: EngineContext,
    *,
    actor: Actor,
    view: str = "mine",
    filters: TaskFilters = NO_FILTERS,
    sort: str = "created",
    limit: int = 50,
    cursor: str | None = None,
    count: bool = False,
) -> TaskPage:
    """A page of tasks, keyset-paginated in ``sort`` order (engine.services.task_queries).

    Views: ``mine`` (open, assigned to me), ``queue`` (open, unassigned, claimable by my groups or
    me), ``archive`` (completed by me, newest first), ``all`` (every open task; supervisors).
    ``count``: also count the tasks of all pages (:func:`count_tasks`). Raises InvalidInputError (unknown view or
    sort, bad cursor, limit or filter), PermissionDeniedError.
    """
    shape, params = _request(ctx, actor, view, filters, sort)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    archive = view == "archive"
    if cursor:
        params.update(queries.decode_cursor(cursor, sort, archive))
        shape = dataclasses.replace(shape, after=True, after_no_due=params["after_at"] is None)
    with unit_of_work(ctx.sessions, write=False) as session:
        if shape.sqlite and view == "queue" and sort != "created":
            # How the page is found depends on how many tasks the clerk may claim (task_queries.Shape.few): a probe
            # that reads at most FEW + 1 index entries per candidate key.
            probe = session.scalar(queries.count_statement(dataclasses.replace(shape, sort="created", after=False)),
                                   {**params, "limit": queries.FEW + 1})
            shape = dataclasses.replace(shape, few=int(probe or 0) <= queries.FEW)
        params["limit"] = limit + 1
        rows = session.scalars(queries.list_statement(shape), params).all()
        items = [task_view(r, actor) for r in rows[:limit]]
    next_cursor = queries.encode_cursor(sort, rows[limit - 1], archive) if len(rows) > limit else None
    if not count:
        return TaskPage(items, next_cursor)
    total, capped = count_tasks(ctx, actor=actor, view=view, filters=filters)
    return TaskPage(items, next_cursor, total, capped)


def count_tasks(ctx: EngineContext, *, actor: Actor, view: str = "mine",
                filters: TaskFilters = NO_FILTERS) -> tuple[int, bool]:
    """How many tasks ``list_tasks`` would list in all its pages, counted up to COUNT_CAP: (count, capped)."""
    shape, params = _request(ctx, actor, view, filters, "created")
    params["limit"] = COUNT_CAP + 1
    with unit_of_work(ctx.sessions, write=False) as session:
        count = int(session.scalar(queries.count_statement(shape), params) or 0)
    return min(count, COUNT_CAP), count > COUNT_CAP


def _request(ctx: EngineContext, actor: Actor, view: str, filters: TaskFilters,
             sort: str) -> tuple[queries.Shape, dict[str, Any]]:
    """The statement's shape and bound values for one request; checks the caller's rights and the arguments."""
    require_any_role(actor)
    if view not in queries.VIEWS:
        raise InvalidInputError(f"view must be one of {', '.join(queries.VIEWS)}")
    if sort not in queries.SORTS or (view == "archive" and sort != "created"):
        raise InvalidInputError(f"sort must be one of {', '.join(queries.SORTS)} (the archive: newest completion first)")
    if filters.priority_min is not None and not 0 <= filters.priority_min <= 100:
        raise InvalidInputError("priority_min must be between 0 and 100")
    if view == "all":
        require_role(actor, "supervisor")
    params: dict[str, Any] = {"me": actor.username}
    for name in ("process", "customer", "priority_min", "due_before", "follow_up_before"):
        if getattr(filters, name) is not None:
            params[name] = getattr(filters, name)
    if filters.overdue is not None:
        params["now"] = ctx.clock.now()
    keys = sorted(set(filters.process_keys)) if filters.process_keys is not None else []
    if filters.process_keys is not None and not keys:
        keys = [""]  # a name that matches no process: no task either
    params.update({f"p{n}": key for n, key in enumerate(keys)})
    if filters.q:
        params["q"] = "%" + _escape_like(filters.q) + "%"
    groups = sorted(actor.groups) if view == "queue" else []
    params.update({f"g{n}": name for n, name in enumerate(groups)})
    if view == "queue":
        params["not_me"] = "%," + _escape_like(actor.username) + ",%"
    shape = queries.Shape(
        view=view, groups=len(groups), anyone=view == "queue" and actor.has_role("staff", "supervisor"),
        process=bool(filters.process), processes=len(keys), customer=bool(filters.customer), overdue=filters.overdue,
        q=bool(filters.q),
        priority_min=filters.priority_min is not None, due_before=filters.due_before is not None,
        follow_up_before=filters.follow_up_before is not None, sort=sort, sqlite=ctx.settings.is_sqlite,
    )
    return shape, params


def queue_request(ctx: EngineContext, actor: Actor,
                  filters: TaskFilters = NO_FILTERS) -> tuple[queries.Shape, dict[str, Any]]:
    """The shape and bound values of the actor's queue (engine.services.worklist's "claim next")."""
    return _request(ctx, actor, "queue", filters, "priority")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> TaskView:
    """One task with its form definition and, while it is open, the task's current data.

    Raises TaskNotFoundError, PermissionDeniedError (not a candidate, assignee or supervisor).
    """
    require_any_role(actor)
    key = parse_id(task_id, "task")
    with unit_of_work(ctx.sessions, write=False) as session:
        row = rows.task_row(session, key)
        instance = rows.instance_row(session, row.instance_id) if row is not None else None
        if row is None or instance is None:
            raise TaskNotFoundError(f"no task {task_id}")
        if not lifecycle.can_see(actor, row):
            raise PermissionDeniedError("this task is not yours to see")
        bundle = runtime.load_bundle(ctx, session, instance.definition_id)
        form = bundle.forms.get(row.form_key) if row.form_key else None
        data = None
        if row.status in OPEN_STATES:
            data = runtime.stored_task_data(ctx, instance, row.id)
        return task_view(row, actor, form=form, data=data)


def _transition(ctx: EngineContext, task_id: str | uuid.UUID, actor: Actor, action: str,
                assignee: str | None = None) -> TaskView:
    """One lifecycle transition: check it on the task as read, then write the task, its queue rows, the audit
    event and the instance revision (engine.runtime.step)."""
    require_any_role(actor)

    def act(step: steps.Step) -> TaskView:
        row = step.task
        assert row is not None
        transition = lifecycle.check(action, actor, row)
        if assignee is not None and assignee in row.excluded_names:
            raise PermissionDeniedError(f"{assignee} may not take this task (the process excludes them)")
        if action in ("claim", "assign", "delegate"):
            taker = actor.username if action == "claim" else assignee
            four_eyes.check(_reads(step), step.bundle, row.instance_id, row.task_name, taker)
        before = {"status": row.status, "assignee": row.assignee, "owner": row.owner}
        status_changed = row.status != transition.target
        row.status = transition.target
        if action == "delegate":
            row.owner, row.assignee = row.owner or row.assignee, assignee
        elif action == "resolve":
            row.assignee, row.owner = row.owner, None
        else:
            row.assignee = assignee if action == "assign" else (actor.username if action == "claim" else None)
            row.owner = None
        row.claimed_at = step.now if row.assignee else None
        step.write(lambda session: rows.write_assignment(session, row, status_changed=status_changed))
        if action == "delegate" and assignee:
            step.write(lambda session: four_eyes.record(session, row.instance_id, row.task_name, assignee, "delegate",
                                                        step.now))
        if action in ("assign", "delegate") and assignee and assignee != actor.username:
            def tell(session: Session, to: str = assignee) -> None:
                notify.notify(session, [to], kind="task_assigned", title=row.title, at=step.now, task_id=row.id)

            step.write(tell)
        step.audit(f"task.{action}", actor=actor.username, before=before,
                   after={"task": str(row.id), "status": row.status, "assignee": row.assignee, "owner": row.owner})
        return task_view(row, actor)

    return steps.on_task(ctx, parse_id(task_id, "task"), act)


def claim_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> TaskView:
    """Take an open task. Raises TaskNotFoundError, InvalidTransitionError (already claimed), PermissionDeniedError."""
    return _transition(ctx, task_id, actor, "claim")


def unclaim_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> TaskView:
    """Put a claimed task back in its queue (the assignee or a supervisor)."""
    return _transition(ctx, task_id, actor, "unclaim")


def assign_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, assignee: str) -> TaskView:
    """A supervisor gives the task to ``assignee`` (an active user). Raises UserNotFoundError too."""
    from engine.services.identity import get_actor

    get_actor(ctx, assignee)
    return _transition(ctx, task_id, actor, "assign", assignee=assignee)


def delegate_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, to: str) -> TaskView:
    """Lend a claimed task to ``to``; it comes back to the owner when ``to`` resolves it."""
    from engine.services.identity import get_actor

    if to == actor.username:
        raise InvalidInputError("delegate to someone else")
    get_actor(ctx, to)
    return _transition(ctx, task_id, actor, "delegate", assignee=to)


def resolve_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> TaskView:
    """The delegate hands the task back to its owner (who then completes it)."""
    return _transition(ctx, task_id, actor, "resolve")


def update_task(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, priority: int | None = None,
                due_at: datetime | None = None, follow_up_at: datetime | None = None) -> TaskView:
    """Change priority, due or follow-up date (the assignee or a supervisor). Audited with before/after."""
    require_any_role(actor)
    if priority is not None and not 0 <= priority <= 100:
        raise InvalidInputError("priority must be between 0 and 100")

    def act(step: steps.Step) -> TaskView:
        row = step.task
        assert row is not None
        if row.status not in OPEN_STATES:
            raise InvalidTransitionError("the task is not open", subject=str(row.id), state=row.status, action="update")
        if not (actor.is_supervisor or row.assignee == actor.username):
            raise PermissionDeniedError("only the assignee or a supervisor may change the task's dates or priority")
        before = {"priority": row.priority, "due_at": _iso(row.due_at), "follow_up_at": _iso(row.follow_up_at)}
        if priority is not None:
            row.priority = priority
        if due_at is not None:
            row.due_at = due_at
        if follow_up_at is not None:
            row.follow_up_at = follow_up_at
        step.write(lambda session: rows.write_planning(session, row))
        step.audit("task.updated", actor=actor.username, before=before,
                   after={"task": str(row.id), "priority": row.priority, "due_at": _iso(row.due_at),
                          "follow_up_at": _iso(row.follow_up_at)})
        return task_view(row, actor)

    return steps.on_task(ctx, parse_id(task_id, "task"), act)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def bulk_transition(ctx: EngineContext, task_ids: list[str], *, actor: Actor, action: str,
                    assignee: str | None = None) -> dict[str, str]:
    """Claim or assign many tasks (supervisors); each in its own transaction. Returns id → "ok" or an error code."""
    require_role(actor, "supervisor")
    if action not in ("claim", "assign") or (action == "assign" and not assignee):
        raise InvalidInputError("bulk action must be claim, or assign with an assignee")
    if len(task_ids) > 200:
        raise InvalidInputError("at most 200 tasks at once")
    results: dict[str, str] = {}
    for task_id in task_ids:
        try:
            if action == "claim":
                claim_task(ctx, task_id, actor=actor)
            else:
                assign_task(ctx, task_id, actor=actor, assignee=str(assignee))
            results[task_id] = "ok"
        except EngineError as exc:
            results[task_id] = exc.code
    return results


def complete_task(
    ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor, data: dict[str, Any] | None = None
) -> TaskView:
    """Submit the task's form and run the process on to its next wait state, in one step.

    The data is validated against the task's form (FormValidationError with field messages;
    nothing changes). If a later script or service step fails, the completion still stands
    and the instance is marked ``error`` for a supervisor to retry. Raises TaskNotFoundError,
    InvalidTransitionError, PermissionDeniedError, FormValidationError, ConcurrentModificationError,
    StepFailedError (the step could not be stored: the instance is in ``error``).
    """
    require_any_role(actor)
    if data is not None:
        check_value(data, "data", ctx.settings.input_limits)

    def act(step: steps.Step) -> TaskView:
        row = step.task
        assert row is not None
        lifecycle.check("complete", actor, row)
        four_eyes.check(_reads(step), step.bundle, row.instance_id, row.task_name, actor.username)
        cleaned = _validated(ctx, step.bundle.forms.get(row.form_key) if row.form_key else None, data)
        step.complete(row, cleaned, by=actor.username)
        if row.form_key:  # what an approval of this task shows, and diffs against the next round
            step.write(lambda session: submissions.record(
                session, ctx.cipher, instance_id=row.instance_id, task_id=row.id, element_id=row.task_name,
                form_key=row.form_key, data=cleaned, by=actor.username, at=step.now))
        step.write(lambda session: drafts.remove_on_completion(session, row.id, actor.username))
        step.audit("task.complete", actor=actor.username,
                   after={"task": str(row.id), "name": row.task_name, "fields": sorted(cleaned)})
        if step.failure is not None:
            step.audit("instance.failed", actor=actor.username,
                       after={"message": step.failure.message, "task": step.failure.task_name})
        return task_view(row, actor)

    return steps.on_task(ctx, parse_id(task_id, "task"), act)


def _reads(step: steps.Step) -> Session:
    assert step.session is not None
    return step.session


def _validated(ctx: EngineContext, form: dict[str, Any] | None, data: dict[str, Any] | None) -> dict[str, Any]:
    submitted = data or {}
    if not isinstance(submitted, dict):
        raise InvalidInputError("task data must be an object")
    if form is not None and ctx.form_validator is not None:
        return ctx.form_validator(form, submitted)
    if not all(isinstance(k, str) and k.isidentifier() for k in submitted):
        raise InvalidInputError("task data keys must be identifiers")
    return dict(submitted)
