"""Rebuild the query tables of one instance from its SpiffWorkflow state.

Runs inside the command's transaction, right before commit, so ``human_task``,
``timer`` and ``message_subscription`` always agree with the stored state. Rows are
diffed by SpiffWorkflow task id rather than deleted and re-inserted: claims, due dates
and history survive, and task ids stay stable for the API.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from engine import notify, wakeups
from engine.bpmn.extensions import UserTaskConfig, task_title, user_task_config
from engine.bpmn.timers import parse_duration
from engine.db.bulk import gathering
from engine.db.models import (
    HumanTaskStatus,
    InstanceRecord,
    MessageSubscription,
    TaskRecord,
    Timer,
    TimerStatus,
)
from engine.db.prepared import Prepared
from engine.rules.calendar import BusinessCalendar
from engine.runtime import four_eyes, routing, rows

OPEN_STATES = (HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value)

# (session, new human_task row not yet inserted) -> None: a process package sets the row's SLA times or other
# columns from its own records (engine.complaints.tasks).
TaskShaper = Callable[[Session, TaskRecord], None]


@dataclass(frozen=True)
class Shaping:
    """What new task rows need besides the workflow: the business calendar and the bank's zone for working-day
    due times, the share of the time after which the SLA warns, and the process packages' task shapers."""

    calendar: BusinessCalendar | None
    zone: ZoneInfo
    warn_share: float = 0.8
    shapers: Sequence[TaskShaper] = ()


@dataclass(frozen=True)
class PendingTimer:
    spiff_task_id: str
    name: str
    due_at: datetime


@dataclass(frozen=True)
class PendingMessage:
    spiff_task_id: str
    name: str
    correlation: dict[str, Any]


def correlation_hash(correlation: dict[str, Any]) -> str:
    text = json.dumps(correlation, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ready_human_tasks(workflow: Any) -> list[Any]:
    return list(workflow.get_tasks(state=TaskState.READY, manual=True))


def pending_timers(workflow: Any) -> list[PendingTimer]:
    found = []
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        if task.state != TaskState.WAITING or not isinstance(
            definition, (TimerEventDefinition, MultipleEventDefinition)
        ):
            continue
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next") if value.get("cycles") != 0 else None
        if isinstance(value, str):
            try:
                due = datetime.fromisoformat(value)
            except ValueError:
                continue
            name = getattr(definition, "name", None) or task.task_spec.bpmn_id or task.task_spec.name
            found.append(PendingTimer(str(task.id), str(name), due))
    return found


def message_definitions(definition: Any) -> list[Any]:
    """The message definitions a waiting task catches (several behind an event-based gateway)."""
    if isinstance(definition, MessageEventDefinition):
        return [definition]
    if isinstance(definition, MultipleEventDefinition):
        return [d for d in definition.event_definitions if isinstance(d, MessageEventDefinition)]
    return []


def _expected_correlation(task: Any, definition: Any) -> dict[str, Any]:
    """The values a message must carry to reach this task.

    From the conversation's known correlations, and from ``processVariableCorrelation``
    evaluated on the task's data, which SpiffWorkflow skips behind event-based gateways
    (research §4 bug 9): CareFlow routes on these values itself, so a reply for another
    case can never be accepted.
    """
    known = task.workflow.correlations
    expected: dict[str, Any] = {}
    for prop in definition.correlation_properties:
        for key in prop.correlation_keys:
            if prop.name in known.get(key, {}):
                expected[prop.name] = known[key][prop.name]
    environment = task.workflow.script_engine.environment
    for prop in getattr(definition, "process_correlations", None) or []:
        if prop.name not in expected:
            expected[prop.name] = environment.evaluate(prop.retrieval_expression, dict(task.data))
    return expected


def pending_messages(workflow: Any) -> list[PendingMessage]:
    found = []
    for task in workflow.event_manager.tasks.values():
        if task.state != TaskState.WAITING:
            continue
        for definition in message_definitions(task.task_spec.event_definition):
            found.append(PendingMessage(str(task.id), definition.name, _expected_correlation(task, definition)))
    return found


def project(session: Session, instance: InstanceRecord, workflow: Any, now: datetime, *, new: bool,
            shaping: Shaping) -> None:
    """Make the instance's query rows match ``workflow``. ``new`` skips reading rows that cannot exist."""
    _project_tasks(session, instance, workflow, now, new, shaping)
    _project_timers(session, instance, pending_timers(workflow), new)
    _project_messages(session, instance, pending_messages(workflow), now, new)


def _project_tasks(session: Session, instance: InstanceRecord, workflow: Any, now: datetime, new: bool,
                   shaping: Shaping) -> None:
    ready = {task.id: task for task in ready_human_tasks(workflow)}
    later = gathering(session)
    if ready and later is not None:  # task rows refer to the gathered instance rows, and routing reads tasks
        later.send(session)
    if not new:
        # Open rows whose task is no longer ready ended without being completed through complete_task:
        # a boundary event, a cancel, or a gateway that moved on.
        ended = [task_id for task_id in rows.open_task_ids(session, instance.id) if ready.pop(task_id, None) is None]
        rows.end_tasks(session, ended, HumanTaskStatus.CANCELLED.value, now)
    for task_id, task in ready.items():
        config = resolve_candidates(user_task_config(task.task_spec), task.data)
        row = _new_task_row(instance, task_id, task, config, now, shaping)
        excluded: set[str] = set()
        if config.exclude_users:
            excluded.update(routing.excluded_users(session, instance.id, task, config.exclude_users))
        if config.approves:
            excluded.update(four_eyes.excluded(session, instance.id, config.approves))
        row.excluded_users = ",".join(sorted(excluded))
        for shape in shaping.shapers:
            shape(session, row)
        if config.assignment != "queue":
            # Counts claimed rows in the database: a task routed earlier in this step is already there.
            routing.route(session, row, config.assignment, config.required_skills, now)
        rows.insert_task(session, row)
        _tell(session, row, approval=bool(config.approves), now=now)


def _tell(session: Session, row: TaskRecord, *, approval: bool, now: datetime) -> None:
    """A new task's notifications: to the person it was routed to; an approval to everyone who may take it."""
    if row.assignee:
        notify.notify(session, [row.assignee], kind="task_assigned", title=row.title, at=now, task_id=row.id)
    elif approval:
        excluded = set(row.excluded_names)
        takers = set(row.user_names) | set(notify.members(session, row.group_names))
        notify.notify(session, takers - excluded, kind="approval_waiting", title=row.title, at=now, task_id=row.id)


def resolve_candidates(config: UserTaskConfig, data: dict[str, Any]) -> UserTaskConfig:
    """``candidateUsers``/``candidateGroups`` entries like ``${manager}`` name the process variable holding
    the user or group (e.g. the customer's manager chosen by an earlier step); an empty one drops out."""
    def value(path: str) -> str:
        found: Any = data
        for part in path.split("."):  # ``${assignment.manager}``: a key of a service task's result
            found = found.get(part) if isinstance(found, dict) else None
        return str(found or "")

    def names(values: tuple[str, ...]) -> tuple[str, ...]:
        found = (value(v[2:-1]) if v.startswith("${") and v.endswith("}") else v for v in values)
        return tuple(name for name in found if name)

    if not any("${" in v for v in (*config.candidate_users, *config.candidate_groups)):
        return config
    return replace(config, candidate_users=names(config.candidate_users), candidate_groups=names(config.candidate_groups))


def _due_at(config: UserTaskConfig, now: datetime, shaping: Shaping) -> datetime | None:
    """Due time of a new task: working days on the bank's calendar, or a calendar-time duration."""
    if config.due_in_workdays is not None and shaping.calendar is not None:
        local = now.astimezone(shaping.zone)
        return shaping.calendar.add_workdays_at(local, config.due_in_workdays).astimezone(UTC)
    if config.due_in:
        try:
            return now + parse_duration(config.due_in, now)
        except Exception:  # checked at deploy; at run time the step already made it an incident (run_steps)
            return None
    return None


def _new_task_row(instance: InstanceRecord, task_id: uuid.UUID, task: Any, config: UserTaskConfig,
                  now: datetime, shaping: Shaping) -> TaskRecord:
    due_at = _due_at(config, now, shaping)
    warn_at = now + (due_at - now) * shaping.warn_share if due_at else None
    named = [("group", g) for g in config.candidate_groups] + [("user", u) for u in config.candidate_users]
    return TaskRecord(
        id=task_id, instance_id=instance.id, process_key=instance.process_key, customer_id=instance.customer_id,
        task_name=task.task_spec.bpmn_id or task.task_spec.name, title=task_title(task.task_spec),
        form_key=config.form_key, lane=getattr(task.task_spec, "lane", None), status=HumanTaskStatus.OPEN.value,
        priority=config.priority, due_at=due_at, sla_warn_at=warn_at, created_at=now,
        candidate_groups=",".join(config.candidate_groups), candidate_users=",".join(config.candidate_users),
        excluded_users="", candidates=named or [("any", "*")],
    )


_TIMERS, _SUBSCRIPTIONS = cast(Table, Timer.__table__), cast(Table, MessageSubscription.__table__)
_PENDING_TIMERS = select(_TIMERS.c.id, _TIMERS.c.spiff_task_id, _TIMERS.c.due_at).where(
    _TIMERS.c.instance_id == bindparam("instance_id"), _TIMERS.c.status == TimerStatus.PENDING.value)
_DROP_TIMER = delete(_TIMERS).where(_TIMERS.c.id == bindparam("timer"))
_MOVE_TIMER = update(_TIMERS).where(_TIMERS.c.id == bindparam("timer")).values(due_at=bindparam("new_due_at"))
_ADD_TIMER = insert(_TIMERS)
_SUBSCRIBED = select(_SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.spiff_task_id, _SUBSCRIPTIONS.c.name,
                     _SUBSCRIPTIONS.c.correlation_hash).where(_SUBSCRIPTIONS.c.instance_id == bindparam("instance_id"))
_DROP_SUBSCRIPTION = delete(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.id == bindparam("subscription"))
_ADD_SUBSCRIPTION = insert(_SUBSCRIPTIONS)
_DROP_TIMERS = Prepared(delete(_TIMERS).where(_TIMERS.c.instance_id == bindparam("instance_id")))
_DROP_SUBSCRIPTIONS = Prepared(delete(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.instance_id == bindparam("instance_id")))


def _project_timers(session: Session, instance: InstanceRecord, timers: list[PendingTimer], new: bool) -> None:
    wanted = {t.spiff_task_id: t for t in timers}
    connection = session.connection()
    if not new:
        for row in connection.execute(_PENDING_TIMERS, {"instance_id": instance.id}).all():
            timer = wanted.pop(row.spiff_task_id, None)
            if timer is None:
                connection.execute(_DROP_TIMER, {"timer": row.id})  # fired or cancelled; the audit trail keeps the history
            elif timer.due_at != row.due_at:
                connection.execute(_MOVE_TIMER, {"timer": row.id, "new_due_at": timer.due_at})  # a cycle's next time
                wakeups.note_due(session, "timer", timer.due_at)
    later = gathering(session)
    for timer in wanted.values():
        wakeups.note_due(session, "timer", timer.due_at)
        values = {"instance_id": instance.id, "spiff_task_id": timer.spiff_task_id, "name": timer.name,
                  "due_at": timer.due_at, "status": TimerStatus.PENDING.value, "attempts": 0}
        if later is not None:
            later.add(_ADD_TIMER, [values])
        else:
            connection.execute(_ADD_TIMER, values)


def _project_messages(
    session: Session, instance: InstanceRecord, messages: list[PendingMessage], now: datetime, new: bool
) -> None:
    wanted = {(m.spiff_task_id, m.name): m for m in messages}
    connection = session.connection()
    if not new:
        for row in connection.execute(_SUBSCRIBED, {"instance_id": instance.id}).all():
            message = wanted.get((row.spiff_task_id, row.name))
            if message is not None and correlation_hash(message.correlation) == row.correlation_hash:
                wanted.pop((row.spiff_task_id, row.name))
            else:
                connection.execute(_DROP_SUBSCRIPTION, {"subscription": row.id})
    later = gathering(session)
    for message in wanted.values():
        values = {"instance_id": instance.id, "spiff_task_id": message.spiff_task_id, "name": message.name,
                  "correlation": message.correlation, "correlation_hash": correlation_hash(message.correlation),
                  "created_at": now}
        if later is not None:
            later.add(_ADD_SUBSCRIPTION, [values])
        else:
            connection.execute(_ADD_SUBSCRIPTION, values)


def clear(session: Session, instance: InstanceRecord, now: datetime) -> None:
    """An ended instance waits for nothing: close open tasks, drop timers and subscriptions."""
    rows.end_tasks(session, rows.open_task_ids(session, instance.id), HumanTaskStatus.CANCELLED.value, now)
    connection = session.connection()
    _DROP_TIMERS.execute(connection, {"instance_id": instance.id})
    _DROP_SUBSCRIPTIONS.execute(connection, {"instance_id": instance.id})
