"""Typed readers for CareFlow's BPMN extension properties (``spiffworkflow:property``).

User tasks:  ``formKey``, ``candidateGroups`` / ``candidateUsers`` (comma-separated),
``priority`` (0–100, default 50), ``dueIn`` (ISO 8601 duration from creation, calendar time) or
``dueInWorkdays`` (a number of working days on the bank's business calendar, same clock time),
``assignment`` (``queue`` — claim from the queue, the default — ``round_robin``, ``least_loaded`` or
``skills`` with ``requiredSkills``: assigned on creation among the candidates who are not absent).
Without ``candidateGroups`` the lane name is the candidate group. ``excludeUsers`` is a script
expression over the task's data and ``performers`` (element id → who completed that task in this
instance) giving a user name or a list of them who may never claim, be assigned or complete the
task, whatever their groups (``performers.get("record_sale")`` keeps the seller off the post-sale revisit);
``all_performers`` maps each element id to everyone who ever did it (delegates and patches included).
``approves`` names the tasks an approval task approves (comma-separated element ids): whoever started the
instance or performed one of them — every performer, delegates included, across send-backs and patch-and-retry —
may never claim, be assigned, be delegated or complete it (four eyes, ``engine.runtime.four_eyes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_PRIORITY = 50


@dataclass(frozen=True)
class UserTaskConfig:
    form_key: str | None
    candidate_groups: tuple[str, ...]
    candidate_users: tuple[str, ...]
    priority: int
    due_in: str | None
    due_in_workdays: int | None = None
    assignment: str = "queue"  # queue | round_robin | least_loaded | skills
    required_skills: tuple[str, ...] = ()
    exclude_users: str | None = None  # expression, evaluated when the task is created
    approves: tuple[str, ...] = ()  # element ids of the tasks this one approves (four eyes)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def properties(task_spec: Any) -> dict[str, str]:
    extensions = getattr(task_spec, "extensions", None) or {}
    props: dict[str, str] = extensions.get("properties") or {}
    return props


def user_task_config(task_spec: Any) -> UserTaskConfig:
    props = properties(task_spec)
    groups = _split(props.get("candidateGroups"))
    if not groups and getattr(task_spec, "lane", None):
        groups = (task_spec.lane,)
    try:
        priority = int(props.get("priority", DEFAULT_PRIORITY))
    except ValueError:
        priority = DEFAULT_PRIORITY
    return UserTaskConfig(
        form_key=props.get("formKey") or None,
        candidate_groups=groups,
        candidate_users=_split(props.get("candidateUsers")),
        priority=max(0, min(100, priority)),
        due_in=props.get("dueIn") or None,
        due_in_workdays=_workdays(props.get("dueInWorkdays")),
        assignment=props.get("assignment") or "queue",
        required_skills=_split(props.get("requiredSkills")),
        exclude_users=(props.get("excludeUsers") or "").strip() or None,
        approves=_split(props.get("approves")),
    )


def _workdays(value: str | None) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        days = int(value)
    except ValueError:
        return None
    return days if days >= 0 else None


def task_title(task_spec: Any) -> str:
    return str(getattr(task_spec, "bpmn_name", None) or getattr(task_spec, "bpmn_id", None) or task_spec.name)
