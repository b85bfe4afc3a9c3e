"""The human-task lifecycle as an explicit state machine.

Each action names the states it may start from, the state it leads to and who may take
it. ``allowed_actions`` is what a UI shows; ``check`` is what every service enforces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.db.models import HumanTaskStatus, TaskLike
from engine.errors import InvalidTransitionError, PermissionDeniedError
from engine.views import Actor

OPEN, CLAIMED, COMPLETED = HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value, HumanTaskStatus.COMPLETED.value


def is_excluded(actor: Actor, task: TaskLike) -> bool:
    """Named by the task's ``excludeUsers`` (e.g. the seller on the post-sale revisit): never takes it."""
    return bool(task.excluded_users) and actor.username in task.excluded_names


def is_candidate(actor: Actor, task: TaskLike) -> bool:
    if is_excluded(actor, task):
        return False
    groups, users = set(task.group_names), set(task.user_names)
    if not groups and not users:
        return actor.has_role("staff", "supervisor")
    return actor.username in users or bool(groups & actor.groups)


def can_see(actor: Actor, task: TaskLike) -> bool:
    return (
        actor.is_supervisor
        or task.assignee == actor.username
        or task.completed_by == actor.username
        or is_candidate(actor, task)
    )


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str
    allowed: Callable[[Actor, TaskLike], bool]
    who: str


TRANSITIONS: dict[str, Transition] = {
    "claim": Transition(frozenset({OPEN}), CLAIMED,
                        lambda a, t: not is_excluded(a, t) and (a.is_supervisor or is_candidate(a, t)),
                        "a candidate of the task or a supervisor (not one the task excludes)"),
    "unclaim": Transition(frozenset({CLAIMED}), OPEN, lambda a, t: a.is_supervisor or t.assignee == a.username,
                          "the assignee or a supervisor"),
    "assign": Transition(frozenset({OPEN, CLAIMED}), CLAIMED, lambda a, t: a.is_supervisor, "a supervisor"),
    "complete": Transition(frozenset({CLAIMED}), COMPLETED,
                           lambda a, t: t.assignee == a.username and not t.owner and not is_excluded(a, t),
                           "the assignee (a delegated task is resolved back to its owner first)"),
    # Delegation lends a claimed task to a colleague, who resolves it back to the owner (Camunda's semantics).
    "delegate": Transition(frozenset({CLAIMED}), CLAIMED,
                           lambda a, t: (t.assignee == a.username and not t.owner) or a.is_supervisor,
                           "the assignee (once) or a supervisor"),
    "resolve": Transition(frozenset({CLAIMED}), CLAIMED, lambda a, t: bool(t.owner) and t.assignee == a.username,
                          "the colleague the task was delegated to"),
}


def check(action: str, actor: Actor, task: TaskLike) -> Transition:
    """Raise InvalidTransitionError (wrong state) or PermissionDeniedError (wrong person)."""
    transition = TRANSITIONS[action]
    if task.status not in transition.sources:
        hint = " (claim it first)" if action == "complete" and task.status == OPEN else ""
        raise InvalidTransitionError(
            f"cannot {action} a task that is {task.status}{hint}", subject=str(task.id), state=task.status, action=action
        )
    if action in ("claim", "complete") and is_excluded(actor, task):
        raise PermissionDeniedError(
            f"{actor.username} may not {action} this task: the process excludes whoever started the case or did the "
            "work it approves (four eyes)", details={"reason": "four_eyes"})
    if not transition.allowed(actor, task):
        raise PermissionDeniedError(f"only {transition.who} may {action} this task")
    return transition


def allowed_actions(actor: Actor, task: TaskLike) -> tuple[str, ...]:
    return tuple(
        name for name, t in TRANSITIONS.items() if task.status in t.sources and t.allowed(actor, task)
    )


def sla_actions(actor: Actor, task: TaskLike) -> tuple[str, ...]:
    """Pausing the SLA clock (not a state change): the assignee or a supervisor, on an open task with a due time."""
    if task.status not in (OPEN, CLAIMED) or task.due_at is None:
        return ()
    if not (actor.is_supervisor or task.assignee == actor.username):
        return ()
    return ("resume",) if task.sla_paused_at is not None else ("pause",)
