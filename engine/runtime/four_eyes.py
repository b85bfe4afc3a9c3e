"""Four eyes as an engine rule: whoever started an instance or performed a step never approves that step.

An approval task names what it approves (``approves="handle_request"``, engine.bpmn.extensions). Every person who
completed a task, was delegated one, or patched a failed step is recorded as a performer of that element
(``task_performer``), every time, so send-backs and patch-and-retry add to the list rather than replace it.
The starter and the performers of the approved elements are written into the approval task's excluded users
when it is created, and checked again, from the performer rows, on every claim, assignment, delegation, bulk
action and completion (``engine.services.tasks``): a performer recorded after the task was created is excluded
too. This holds in every process whose approval task says what it approves, without an ``excludeUsers``
expression.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from engine.bpmn.extensions import user_task_config
from engine.bpmn.loader import ParsedBundle
from engine.db.authz import TaskPerformer
from engine.db.models import ProcessInstance
from engine.db.prepared import Prepared
from engine.errors import PermissionDeniedError

_PERFORMERS = cast(Table, TaskPerformer.__table__)
_INSTANCES = cast(Table, ProcessInstance.__table__)
_ADD = Prepared(insert(_PERFORMERS))
_OF_ELEMENTS = select(_PERFORMERS.c.username).where(
    _PERFORMERS.c.instance_id == bindparam("instance"), _PERFORMERS.c.element_id.in_(bindparam("elements", expanding=True)))
_STARTER = select(_INSTANCES.c.started_by).where(_INSTANCES.c.id == bindparam("instance"))


def record(session: Session, instance_id: uuid.UUID, element_id: str, username: str, kind: str, at: datetime) -> None:
    """``username`` performed ``element_id`` (kind: completed | delegate | patched)."""
    _ADD.execute(session.connection(), {"instance_id": instance_id, "element_id": element_id, "username": username,
                                        "kind": kind, "at": at})


def all_performers(session: Session, instance_id: uuid.UUID) -> dict[str, list[str]]:
    """Element id → everyone who performed it in this instance, in order."""
    rows = session.execute(select(TaskPerformer.element_id, TaskPerformer.username)
                           .where(TaskPerformer.instance_id == instance_id).order_by(TaskPerformer.id)).all()
    found: dict[str, list[str]] = {}
    for element, user in rows:
        if user not in found.setdefault(str(element), []):
            found[str(element)].append(str(user))
    return found


def excluded(session: Session, instance_id: uuid.UUID, approves: Iterable[str]) -> set[str]:
    """The instance's starter and every performer of the approved elements."""
    elements = list(approves)
    if not elements:
        return set()
    connection = session.connection()
    people = {str(u) for u in connection.execute(_OF_ELEMENTS, {"instance": instance_id, "elements": elements}).scalars()}
    starter = connection.execute(_STARTER, {"instance": instance_id}).scalar()
    if starter:
        people.add(str(starter))
    return people


def approves_of(bundle: ParsedBundle, element_id: str) -> tuple[str, ...]:
    """What the user task ``element_id`` approves, from its deployed spec (the top process or a subprocess)."""
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        task_spec = spec.task_specs.get(element_id) if spec is not None else None
        if task_spec is not None:
            return user_task_config(task_spec).approves
    return ()


def check(session: Session, bundle: ParsedBundle, instance_id: uuid.UUID, element_id: str, *people: str | None) -> None:
    """Refuse (PermissionDeniedError) if any of ``people`` started the instance or performed what the task
    ``element_id`` approves."""
    approves = approves_of(bundle, element_id)
    if not approves:
        return
    barred = excluded(session, instance_id, approves) & {p for p in people if p}
    if barred:
        who = ", ".join(sorted(barred))
        raise PermissionDeniedError(
            f"{who} started this case or did the work this task approves ({', '.join(approves)}): "
            "another person must approve it (four eyes)", details={"reason": "four_eyes", "approves": list(approves)})
