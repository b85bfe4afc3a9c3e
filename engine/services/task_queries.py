"""The statements behind task lists: views, filters, sort orders, keyset cursors, capped counts.

Every statement is built once per *shape* of request (view, number of groups, which filters, sort, first page or
not) and cached; values are bound parameters. Building a statement of this size cost more than running it.

Sort orders, each a total order so that keyset pages never skip or repeat a task:

- ``created``: oldest first, (created_at, id) — the default; the queue walks one index range per candidate key;
- ``due``: earliest due first, tasks without a due time last, (due_at NULLS LAST, id);
- ``priority``: highest first, then oldest, (priority DESC, created_at, id);
- the archive is always newest completion first, (completed_at DESC, id DESC).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
)

from engine.clock import as_utc
from engine.db.models import HumanTask, HumanTaskStatus, TaskCandidate
from engine.errors import InvalidInputError
from engine.runtime.projection import OPEN_STATES

VIEWS = ("mine", "queue", "archive", "all")
SORTS = ("created", "due", "priority")


@dataclass(frozen=True)
class Shape:
    """Which parts a list statement has; the values travel as bound parameters."""

    view: str
    groups: int = 0
    anyone: bool = False  # the queue includes tasks that name no candidate
    process: bool = False
    processes: int = 0  # the process is one of these keys (a name the user typed may match several)
    customer: bool = False
    overdue: bool | None = None
    q: bool = False
    priority_min: bool = False
    due_before: bool = False
    follow_up_before: bool = False
    sort: str = "created"
    after: bool = False  # a later page: the keyset condition on the cursor's values
    after_no_due: bool = False  # sort "due": the cursor's task had no due time
    sqlite: bool = False  # no statistics to plan with: the queue in another order collects the candidates first
    few: bool = False  # SQLite, queue in another order: the clerk may claim at most FEW tasks (a probe says so)


# A clerk who may claim at most this many tasks has the queue sorted from their candidates (see list_statement).
FEW = 200


@functools.lru_cache(maxsize=1024)
def list_statement(shape: Shape) -> Select[Any]:
    """Tasks of one page (``:limit``), in the shape's order."""
    conditions = _filters(shape)
    if shape.view == "queue" and shape.sort == "created":
        stmt = _queue_by_creation(conditions, shape.groups, shape.anyone, shape.after)
    elif shape.view == "queue" and shape.sqlite:
        # SQLite plans without statistics: offered ix_human_task_status_due it walks the open tasks in due order to
        # skip the sort — right for a clerk with many tasks (the page fills at once), wrong for one of a small group,
        # who would pass every other team's tasks first. For such a clerk (``few``), comparing ``status || ''``
        # takes that index away: the clerk's candidates are read by primary key and the few rows sorted.
        open_ = (HumanTask.status.concat("") if shape.few else HumanTask.status) == HumanTaskStatus.OPEN.value
        stmt = select(HumanTask).where(open_, HumanTask.id.in_(_queue_ids(shape.groups, shape.anyone)),
                                       _claimable_by_me(), *conditions)
    elif shape.view == "queue":
        stmt = select(HumanTask).where(HumanTask.status == HumanTaskStatus.OPEN.value,
                                       _has_candidate(shape.groups, shape.anyone), _claimable_by_me(), *conditions)
    else:
        stmt = _view_filter(select(HumanTask), shape.view).where(*conditions)
    if shape.after:
        stmt = stmt.where(_after(shape.sort if shape.view != "archive" else "archive", shape.after_no_due))
    return stmt.order_by(*_order(shape.sort if shape.view != "archive" else "archive")).limit(bindparam("limit"))


@functools.lru_cache(maxsize=256)
def count_statement(shape: Shape) -> Select[Any]:
    """How many tasks the list holds, counting at most about ``:limit``: no order, each candidate key's index range
    read up to ``:limit`` entries (more than ``:limit`` in all means "at least that many")."""
    conditions = _filters(shape)
    if shape.view != "queue":
        ids = _view_filter(select(HumanTask.id), shape.view).where(*conditions).limit(bindparam("limit"))
        return select(func.count()).select_from(ids.subquery())
    branches = [select(_candidates(kind, name).join(HumanTask, HumanTask.id == TaskCandidate.task_id)
                       .where(_claimable_by_me(), *conditions).limit(bindparam("limit")).subquery().c.task_id)
                for kind, name in _candidate_keys(shape.groups, shape.anyone)]
    merged = union_all(*branches).subquery()
    return select(func.count(distinct(merged.c.task_id)))


def _filters(shape: Shape) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if shape.process:
        conditions.append(HumanTask.process_key == bindparam("process"))
    if shape.processes:
        conditions.append(HumanTask.process_key.in_([bindparam(f"p{n}") for n in range(shape.processes)]))
    if shape.customer:
        conditions.append(HumanTask.customer_id == bindparam("customer"))
    if shape.overdue is not None:
        now = bindparam("now", type_=HumanTask.due_at.type)
        conditions.append(HumanTask.due_at < now if shape.overdue
                          else or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
    if shape.q:
        pattern: BindParameter[str] = bindparam("q")
        conditions.append(or_(HumanTask.title.ilike(pattern, escape="\\"),
                              HumanTask.task_name.ilike(pattern, escape="\\")))
    if shape.priority_min:
        conditions.append(HumanTask.priority >= bindparam("priority_min"))
    if shape.due_before:
        conditions.append(HumanTask.due_at <= bindparam("due_before", type_=HumanTask.due_at.type))
    if shape.follow_up_before:
        conditions.append(HumanTask.follow_up_at <= bindparam("follow_up_before", type_=HumanTask.follow_up_at.type))
    return conditions


def _candidate_keys(groups: int, anyone: bool) -> list[tuple[str, ColumnElement[str]]]:
    keys: list[tuple[str, ColumnElement[str]]] = [("group", bindparam(f"g{n}")) for n in range(groups)]
    keys.append(("user", bindparam("me")))
    if anyone:
        keys.append(("any", literal("*")))
    return keys


def _claimable_by_me() -> ColumnElement[bool]:
    """Tasks that exclude this user (excludeUsers, e.g. the seller's own post-sale revisit) are not theirs to claim."""
    joined = "," + HumanTask.excluded_users + ","
    return or_(HumanTask.excluded_users == "", ~joined.like(bindparam("not_me"), escape="\\"))


def _candidates(kind: str, name: ColumnElement[str]) -> Select[Any]:
    return select(TaskCandidate.task_id).where(TaskCandidate.kind == kind, TaskCandidate.name == name,
                                               TaskCandidate.status == HumanTaskStatus.OPEN.value)


def _queue_by_creation(conditions: list[ColumnElement[bool]], groups: int, anyone: bool, after: bool) -> Select[Any]:
    """Open tasks the actor may claim, oldest first: one ordered index range per candidate key, merged.

    Each branch walks ``ix_task_candidate_queue`` for one of the actor's groups (or the actor by
    name, or ``any`` for tasks that name nobody) in (created_at, task_id) order and stops after a
    page, so the cost does not grow with other teams' open tasks. Filters on the task are checked
    while walking (a join by primary key).
    """
    conditions = [*conditions, _claimable_by_me()]
    branches = []
    for kind, name in _candidate_keys(groups, anyone):
        branch = _candidates(kind, name)
        if after:
            at: BindParameter[datetime] = bindparam("after_at")
            last_id: BindParameter[uuid.UUID] = bindparam("after_id")
            branch = branch.where(or_(TaskCandidate.created_at > at,
                                      and_(TaskCandidate.created_at == at, TaskCandidate.task_id > last_id)))
        branch = branch.join(HumanTask, HumanTask.id == TaskCandidate.task_id).where(*conditions)
        page = branch.order_by(TaskCandidate.created_at, TaskCandidate.task_id).limit(bindparam("limit")).subquery()
        branches.append(select(page.c.task_id))
    merged = union_all(*branches).subquery()
    return select(HumanTask).where(HumanTask.id.in_(select(merged.c.task_id)))


def _queue_ids(groups: int, anyone: bool) -> Select[Any]:
    """Every open task the actor may claim, by the candidate index (SQLite, which plans without statistics: the
    clerk's candidates are read and their tasks sorted, which stays small for a clerk with few tasks)."""
    merged = union_all(*(_candidates(kind, name) for kind, name in _candidate_keys(groups, anyone))).subquery()
    return select(merged.c.task_id)


def _has_candidate(groups: int, anyone: bool) -> ColumnElement[bool]:
    """The task names one of the actor's groups, the actor, or (``anyone``) nobody (PostgreSQL): for the sort orders
    the candidate index does not keep, the planner walks the tasks in that order (``ix_human_task_status_due``)
    checking each one's candidates, or collects the clerk's candidates first, as its statistics favour."""
    keys = [and_(TaskCandidate.kind == kind, TaskCandidate.name == name)
            for kind, name in _candidate_keys(groups, anyone)]
    return exists().where(TaskCandidate.task_id == HumanTask.id, or_(*keys))


def _view_filter(stmt: Select[Any], view: str) -> Select[Any]:
    if view == "mine":
        return stmt.where(HumanTask.assignee == bindparam("me"), HumanTask.status == HumanTaskStatus.CLAIMED.value)
    if view == "archive":
        return stmt.where(HumanTask.completed_by == bindparam("me"))
    if view == "all":
        return stmt.where(HumanTask.status.in_(OPEN_STATES))
    raise InvalidInputError(f"view {view!r} has no plain filter")  # "queue" is built by _queue_by_creation


def _order(sort: str) -> tuple[Any, ...]:
    if sort == "archive":
        return HumanTask.completed_at.desc(), HumanTask.id.desc()
    if sort == "due":  # PostgreSQL walks ix_human_task_status_due in this order (its ascending default is NULLS LAST)
        return HumanTask.due_at.asc().nulls_last(), HumanTask.id
    if sort == "priority":
        return HumanTask.priority.desc(), HumanTask.created_at, HumanTask.id
    return HumanTask.created_at, HumanTask.id


def _after(sort: str, no_due: bool) -> ColumnElement[bool]:
    """After the cursor's task in ``sort`` order."""
    at: BindParameter[datetime] = bindparam("after_at", type_=HumanTask.created_at.type)
    last_id: BindParameter[uuid.UUID] = bindparam("after_id", type_=HumanTask.id.type)
    if sort == "archive":
        return or_(HumanTask.completed_at < at, and_(HumanTask.completed_at == at, HumanTask.id < last_id))
    if sort == "due" and no_due:  # only tasks without a due time and a larger id follow
        return and_(HumanTask.due_at.is_(None), HumanTask.id > last_id)
    if sort == "due":
        return or_(HumanTask.due_at > at, HumanTask.due_at.is_(None), and_(HumanTask.due_at == at, HumanTask.id > last_id))
    if sort == "priority":
        rank = bindparam("after_priority", type_=HumanTask.priority.type)
        return or_(HumanTask.priority < rank,
                   and_(HumanTask.priority == rank, or_(HumanTask.created_at > at,
                                                         and_(HumanTask.created_at == at, HumanTask.id > last_id))))
    return or_(HumanTask.created_at > at, and_(HumanTask.created_at == at, HumanTask.id > last_id))


def encode_cursor(sort: str, row: HumanTask, archive: bool) -> str:
    """The cursor after ``row``: the sort's name and the row's values of the sort key."""
    if archive:
        values: list[Any] = ["archive", _iso(row.completed_at)]
    elif sort == "due":
        values = ["due", _iso(row.due_at)]
    elif sort == "priority":
        values = ["priority", _iso(row.created_at), row.priority]
    else:
        values = ["created", _iso(row.created_at)]
    raw = json.dumps([*values, str(row.id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, archive: bool) -> dict[str, Any]:
    """The bound values of a cursor made for the same sort; InvalidInputError for anything else."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not isinstance(raw, list) or raw[0] != ("archive" if archive else sort):
            raise ValueError("a cursor of another list")
        params: dict[str, Any] = {"after_at": _moment(raw[1]), "after_id": uuid.UUID(raw[-1])}
        if raw[0] == "priority":
            if not isinstance(raw[2], int) or isinstance(raw[2], bool):
                raise ValueError("priority")
            params["after_priority"] = raw[2]
        elif len(raw) != 3:
            raise ValueError("length")
        if params["after_at"] is None and raw[0] != "due":
            raise ValueError("missing time")
        return params
    except (ValueError, TypeError, IndexError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInputError("invalid cursor") from exc


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _moment(text: Any) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError("naive time in cursor")
    return as_utc(moment)


@functools.lru_cache(maxsize=64)
def next_statement(shape: Shape) -> Select[Any]:
    """The ids of the open tasks the actor may claim at priority ``:top``, best first for "claim next": the earliest
    due (none last), then the oldest (``:limit`` of them). ``:top`` is the highest priority in the actor's queue (the
    first row of the queue by priority, which walks ix_human_task_status_priority): with the priority fixed, the
    database walks the tasks in due order (ix_human_task_status_due) instead of sorting the whole queue."""
    mine = (HumanTask.id.in_(_queue_ids(shape.groups, shape.anyone)) if shape.sqlite
            else _has_candidate(shape.groups, shape.anyone))
    stmt = select(HumanTask.id).where(HumanTask.status == HumanTaskStatus.OPEN.value,
                                      HumanTask.priority == bindparam("top"), mine, _claimable_by_me(), *_filters(shape))
    return stmt.order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id).limit(
        bindparam("limit"))
