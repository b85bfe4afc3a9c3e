"""The human-task use cases: list, read, claim, unclaim, assign, delegate/resolve, update, complete."""

from __future__ import annotations

import base64
import binascii
import functools
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, literal, or_, select, union_all

from engine import audit
from engine.clock import as_utc
from engine.context import EngineContext
from engine.db.models import HumanTask, HumanTaskStatus, ProcessInstance, TaskCandidate
from engine.db.session import unit_of_work
from engine.errors import (
    EngineError,
    InvalidInputError,
    InvalidTransitionError,
    PermissionDeniedError,
    TaskNotFoundError,
)
from engine.runtime import instance as runtime
from engine.runtime import lifecycle, rows
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role, require_role
from engine.services.instances import parse_id
from engine.services.taskviews import task_view
from engine.views import Actor, TaskPage, TaskView

VIEWS = ("mine", "queue", "archive", "all")
MAX_LIMIT = 200


def list_tasks(
    ctx: EngineContext,
    *,
    actor: Actor,
    view: str = "mine",
    process: str | None = None,
    customer: str | None = None,
    overdue: bool | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> TaskPage:
    """A page of tasks, keyset-paginated by (created_at, id), or (completed_at, id) for the archive.

    Views: ``mine`` (open, assigned to me), ``queue`` (open, unassigned, claimable by my groups or
    me), ``archive`` (completed by me, newest first), ``all`` (every open task; supervisors).
    Raises InvalidInputError (unknown view, bad cursor or limit), PermissionDeniedError.
    """
    require_any_role(actor)
    if view not in VIEWS:
        raise InvalidInputError(f"view must be one of {', '.join(VIEWS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    if view == "all":
        require_role(actor, "supervisor")
    after = _decode_cursor(cursor) if cursor else None
    params: dict[str, Any] = {"limit": limit + 1, "me": actor.username}
    if process:
        params["process"] = process
    if customer:
        params["customer"] = customer
    if overdue is not None:
        params["now"] = ctx.clock.now()
    if q:
        params["q"] = "%" + _escape_like(q) + "%"
    if after:
        params["after_at"], params["after_id"] = after
    groups = sorted(actor.groups) if view == "queue" else []
    params.update({f"g{n}": name for n, name in enumerate(groups)})
    if view == "queue":
        params["not_me"] = "%," + _escape_like(actor.username) + ",%"
    stmt = _list_statement(view, len(groups), view == "queue" and actor.has_role("staff", "supervisor"),
                           bool(process), bool(customer), overdue, bool(q), after is not None)
    archive = view == "archive"
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(stmt, params).all()
        items = [task_view(r, actor) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last.completed_at if archive else last.created_at, last.id)
    return TaskPage(items, next_cursor)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@functools.lru_cache(maxsize=512)
def _list_statement(view: str, groups: int, anyone: bool, process: bool, customer: bool, overdue: bool | None,
                    q: bool, after: bool) -> Select[Any]:
    """The statement for one shape of request, built once; every value is a bound parameter.

    Building a statement of this size cost more than running it, so each combination of view, number of
    groups and filters is built on first use and reused (``list_tasks`` passes the values).
    """
    archive = view == "archive"
    sort = HumanTask.completed_at if archive else HumanTask.created_at
    conditions = _filters(process=process, customer=customer, overdue=overdue, q=q)
    if view == "queue":
        stmt = _queue(conditions, groups, anyone, after)
    else:
        stmt = _view_filter(select(HumanTask), view).where(*conditions)
    if after:
        at, last_id = _after_params()
        stmt = stmt.where(or_(sort < at, and_(sort == at, HumanTask.id < last_id)) if archive
                          else or_(sort > at, and_(sort == at, HumanTask.id > last_id)))
    order = (sort.desc(), HumanTask.id.desc()) if archive else (sort.asc(), HumanTask.id.asc())
    return stmt.order_by(*order).limit(bindparam("limit"))


def _after_params() -> tuple[BindParameter[datetime], BindParameter[uuid.UUID]]:
    return bindparam("after_at"), bindparam("after_id")


def _filters(*, process: bool, customer: bool, overdue: bool | None, q: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if process:
        conditions.append(HumanTask.process_key == bindparam("process"))
    if customer:
        conditions.append(HumanTask.customer_id == bindparam("customer"))
    if overdue is not None:
        now = bindparam("now", type_=HumanTask.due_at.type)
        conditions.append(HumanTask.due_at < now if overdue else or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
    if q:
        pattern: BindParameter[str] = bindparam("q")
        conditions.append(or_(HumanTask.title.ilike(pattern, escape="\\"),
                              HumanTask.task_name.ilike(pattern, escape="\\")))
    return conditions


def _queue(conditions: list[ColumnElement[bool]], groups: int, anyone: bool, after: bool) -> Select[Any]:
    """Open tasks the actor may claim: one ordered index range per candidate key, merged.

    Each branch walks ``ix_task_candidate_queue`` for one of the actor's groups (or the actor by
    name, or ``any`` for tasks that name nobody) in (created_at, task_id) order and stops after a
    page, so the cost does not grow with other teams' open tasks. Filters on the task are checked
    while walking (a join by primary key).
    """
    keys: list[tuple[str, ColumnElement[str]]] = [("group", bindparam(f"g{n}")) for n in range(groups)]
    keys.append(("user", bindparam("me")))
    # Tasks that exclude this user (excludeUsers, e.g. the seller's own post-sale revisit) are not theirs to claim.
    joined = "," + HumanTask.excluded_users + ","
    conditions = [*conditions, or_(HumanTask.excluded_users == "", ~joined.like(bindparam("not_me"), escape="\\"))]
    if anyone:
        keys.append(("any", literal("*")))
    branches = []
    for kind, name in keys:
        branch = (select(TaskCandidate.task_id)
                  .where(TaskCandidate.kind == kind, TaskCandidate.name == name,
                         TaskCandidate.status == HumanTaskStatus.OPEN.value))
        if after:
            at, last_id = _after_params()
            branch = branch.where(or_(TaskCandidate.created_at > at,
                                      and_(TaskCandidate.created_at == at, TaskCandidate.task_id > last_id)))
        branch = branch.join(HumanTask, HumanTask.id == TaskCandidate.task_id).where(*conditions)
        page = branch.order_by(TaskCandidate.created_at, TaskCandidate.task_id).limit(bindparam("limit")).subquery()
        branches.append(select(page.c.task_id))
    merged = union_all(*branches).subquery()
    return select(HumanTask).where(HumanTask.id.in_(select(merged.c.task_id)))


def _view_filter(stmt: Select[Any], view: str) -> Select[Any]:
    if view == "mine":
        return stmt.where(HumanTask.assignee == bindparam("me"), HumanTask.status == HumanTaskStatus.CLAIMED.value)
    if view == "archive":
        return stmt.where(HumanTask.completed_by == bindparam("me"))
    if view == "all":
        return stmt.where(HumanTask.status.in_(OPEN_STATES))
    raise InvalidInputError(f"view {view!r} has no plain filter")  # "queue" is built by _queue


def _encode_cursor(at: datetime | None, task_id: uuid.UUID) -> str:
    raw = f"{at.isoformat() if at else ''}|{task_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, task_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("naive time in cursor")
        return as_utc(moment), uuid.UUID(task_id)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInputError("invalid cursor") from exc


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
    """One lifecycle transition: lock the task's instance first, then read the task (a concurrent claim is
    seen, not overwritten), check, write the task, its queue rows, the audit event and the instance revision."""
    require_any_role(actor)
    key = parse_id(task_id, "task")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        instance, row = rows.lock_instance_of_task(session, key)
        transition = lifecycle.check(action, actor, row)
        if assignee is not None and assignee in row.excluded_names:
            raise PermissionDeniedError(f"{assignee} may not take this task (the process excludes them)")
        before = {"status": row.status, "assignee": row.assignee, "owner": row.owner}
        row.status = transition.target
        if action == "delegate":
            row.owner, row.assignee = row.owner or row.assignee, assignee
        elif action == "resolve":
            row.assignee, row.owner = row.owner, None
        else:
            row.assignee = assignee if action == "assign" else (actor.username if action == "claim" else None)
            row.owner = None
        row.claimed_at = now if row.assignee else None
        rows.write_assignment(session, row, status_changed=row.status != before["status"])
        head = audit.append_to_instance(session, instance.id, instance.audit_head, actor=actor.username,
                                        action=f"task.{action}", at=now, before=before,
                                        after={"task": str(row.id), "status": row.status, "assignee": row.assignee,
                                               "owner": row.owner})
        rows.advance_instance(session, instance.id, instance.revision, head)
        return task_view(row, actor)


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
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        instance, row = rows.lock_instance_of_task(session, parse_id(task_id, "task"))
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
        rows.write_planning(session, row)
        head = audit.append_to_instance(session, instance.id, instance.audit_head, actor=actor.username,
                                        action="task.updated", at=now, before=before,
                                        after={"task": str(row.id), "priority": row.priority,
                                               "due_at": _iso(row.due_at), "follow_up_at": _iso(row.follow_up_at)})
        rows.advance_instance(session, instance.id, instance.revision, head)
        return task_view(row, actor)


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
    """Submit the task's form and run the process on to its next wait state, in one transaction.

    The data is validated against the task's form (FormValidationError with field messages;
    nothing changes). If a later script or service step fails, the completion still stands
    and the instance is marked ``error`` for a supervisor to retry. Raises TaskNotFoundError,
    InvalidTransitionError, PermissionDeniedError, FormValidationError, ConcurrentModificationError.
    """
    require_any_role(actor)
    key = parse_id(task_id, "task")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        locked, row = rows.lock_instance_of_task(session, key)
        instance = ProcessInstance(**locked)  # not in the session: written back by statements, not the unit of work
        lifecycle.check("complete", actor, row)
        bundle = runtime.load_bundle(ctx, session, instance.definition_id)
        cleaned = _validated(ctx, bundle.forms.get(row.form_key) if row.form_key else None, data)
        workflow = runtime.restore(ctx, session, instance, ctx.clock)
        spiff_task = runtime.ready_task(workflow, row.id)
        if spiff_task is None:
            raise InvalidTransitionError("the process is no longer waiting for this task", subject=str(row.id),
                                         state=row.status, action="complete")
        spiff_task.data.update(cleaned)
        spiff_task.run()
        failure = runtime.run_steps(workflow)
        # Before the projection, which closes the open rows whose task is no longer ready: this one is done.
        rows.complete_task(session, row.id, actor.username, now)
        row.status, row.completed_at, row.completed_by = HumanTaskStatus.COMPLETED.value, now, actor.username
        audit.append_instance(session, instance, actor=actor.username, action="task.complete", at=now,
                              after={"task": str(row.id), "name": row.task_name, "fields": sorted(cleaned)})
        if failure is not None:
            audit.append_instance(session, instance, actor=actor.username, action="instance.failed", at=now,
                                  after={"message": failure.message, "task": failure.task_name})
        runtime.save(session, instance, workflow, now, failure=failure)
        return task_view(row, actor)


def _validated(ctx: EngineContext, form: dict[str, Any] | None, data: dict[str, Any] | None) -> dict[str, Any]:
    submitted = data or {}
    if not isinstance(submitted, dict):
        raise InvalidInputError("task data must be an object")
    if form is not None and ctx.form_validator is not None:
        return ctx.form_validator(form, submitted)
    if not all(isinstance(k, str) and k.isidentifier() for k in submitted):
        raise InvalidInputError("task data keys must be identifiers")
    return dict(submitted)
