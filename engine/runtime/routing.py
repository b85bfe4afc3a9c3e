"""Assigning new tasks on creation: round-robin, least-loaded or skills-based, among present candidates.

Runs inside the step's transaction (from the projection). Candidates are the active members of the
task's candidate groups plus its candidate users, minus anyone absent at that moment and, for
``skills``, anyone lacking a required skill, and anyone the task excludes (``excludeUsers``). With
nobody eligible the task stays in the queue — never lost, never given to someone away.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.db.models import Group, GroupMembership, HumanTask, HumanTaskStatus, RoutingState, TaskLike, User
from engine.errors import ProcessScriptError
from engine.runtime import four_eyes

STRATEGIES = ("queue", "round_robin", "least_loaded", "skills")


def eligible(session: Session, task: TaskLike, now: datetime, skills: tuple[str, ...]) -> list[str]:
    groups, users = task.group_names, task.user_names
    stmt = (select(User).outerjoin(GroupMembership, GroupMembership.user_id == User.id)
            .outerjoin(Group, Group.id == GroupMembership.group_id)
            .where(User.active.is_(True), or_(Group.name.in_(groups), User.username.in_(users)),
                   or_(User.absent_until.is_(None), User.absent_until <= now)))
    found = {u.username: u for u in session.scalars(stmt) if u.username not in task.excluded_names}
    return sorted(name for name, u in found.items() if set(skills) <= {s for s in u.skills.split(",") if s})


def excluded_users(session: Session, instance_id: uuid.UUID, task: Any, expression: str) -> tuple[str, ...]:
    """Evaluate a task's ``excludeUsers`` over its data plus ``performers`` (element id → who completed it).

    A failing expression fails the step (nothing is committed): a four-eyes rule never silently lapses.
    """
    rows = session.execute(
        select(HumanTask.task_name, HumanTask.completed_by)
        .where(HumanTask.instance_id == instance_id, HumanTask.status == HumanTaskStatus.COMPLETED.value)
        .order_by(HumanTask.completed_at)).all()
    performers = {str(name): str(user) for name, user in rows if user}
    environment = task.workflow.script_engine.environment
    try:
        value = environment.evaluate(expression, {**task.data, "performers": performers,
                                                  "all_performers": four_eyes.all_performers(session, instance_id)})
    except Exception as exc:
        raise ProcessScriptError(f"excludeUsers of {task.task_spec.bpmn_id} failed: {exc}",
                                 task_name=task.task_spec.bpmn_id) from exc
    names = [value] if isinstance(value, str) else list(value or ())
    return tuple(sorted({str(name) for name in names if name}))


def route(session: Session, task: TaskLike, strategy: str, skills: tuple[str, ...], now: datetime) -> str | None:
    """Pick and set the assignee of a new task; returns who, or None (stays in the queue)."""
    if strategy not in STRATEGIES or strategy == "queue":
        return None
    people = eligible(session, task, now, skills)
    if not people:
        return None
    if strategy == "round_robin":
        chosen = _next_in_turn(session, task.group_names[0] if task.group_names else task.task_name, people)
    else:  # least_loaded, and skills (least loaded among the skilled)
        rows = session.execute(
            select(HumanTask.assignee, func.count()).where(HumanTask.assignee.in_(people),
                                                            HumanTask.status == HumanTaskStatus.CLAIMED.value)
            .group_by(HumanTask.assignee)).all()
        loads = {str(assignee): int(count) for assignee, count in rows}
        chosen = min(people, key=lambda name: (loads.get(name, 0), name))
    task.assignee, task.status, task.claimed_at = chosen, HumanTaskStatus.CLAIMED.value, now
    return chosen


def _next_in_turn(session: Session, key: str, people: list[str]) -> str:
    state = session.get(RoutingState, key, with_for_update=True)
    if state is None:
        state = RoutingState(group=key, last_assignee=None)
        session.add(state)
    later = [name for name in people if state.last_assignee is None or name > state.last_assignee]
    chosen = later[0] if later else people[0]
    state.last_assignee = chosen
    return chosen
