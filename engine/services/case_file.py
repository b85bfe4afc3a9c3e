"""A task's case file: what the person needs to decide, for the task page (``engine.casefile``).

``get_case_file`` runs the providers the task lists for the viewer, adds what an approval task approves (the
approved task's latest submission and, after a send-back, the round before it) and why a task came back (the
approval's comment), and audits the view: one ``customer.viewed`` event on each shown customer's stream, or a
``complaint.viewed`` event on the task's stream (the reader's on the desk) for a complaint without a registered customer,
each with the purpose (``task:<id>``) and the sections shown. ``engine.complaints.case_file.get_complaint_file`` is
the same for the complaints desk's case page (purpose ``complaint:<case no>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.exc import IntegrityError

from engine import audit
from engine.casefile import registry, submissions
from engine.casefile.model import Reading, Section, Submission
from engine.casefile.providers import masked
from engine.casefile.submissions import SentBack
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import PermissionDeniedError, TaskNotFoundError
from engine.runtime import instance as runtime
from engine.runtime import lifecycle, rows
from engine.services.authz import require_any_role
from engine.services.instances import parse_id
from engine.views import Actor


@dataclass(frozen=True)
class CaseFile:
    sections: tuple[Section, ...] = ()
    approves: tuple[Submission, ...] = ()  # what this approval task approves (none for other tasks)
    sent_back: SentBack | None = None  # the approval that sent this task back, with its comment


def get_case_file(ctx: EngineContext, task_id: str | uuid.UUID, *, actor: Actor) -> CaseFile:
    """The case file of a task for ``actor``; sections the viewer may not see come back withheld.

    Audited as described in the module docstring. Raises TaskNotFoundError, PermissionDeniedError (the task is
    not the viewer's to see).
    """
    require_any_role(actor)
    key = parse_id(task_id, "task")
    return read_retried(lambda: _task_file(ctx, key, task_id, actor))


def read_retried(read: Callable[[], CaseFile]) -> CaseFile:
    """Two readers of one customer at once both chain their audit event after the same head: the second insert
    fails on the stream's unique (stream, prev_hash) and is read again after the first."""
    for attempt in range(3):
        try:
            return read()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _task_file(ctx: EngineContext, key: uuid.UUID, task_id: str | uuid.UUID, actor: Actor) -> CaseFile:
    with unit_of_work(ctx.sessions) as session:
        row = rows.task_row(session, key)
        instance = rows.instance_row(session, row.instance_id) if row is not None else None
        if row is None or instance is None:
            raise TaskNotFoundError(f"no task {task_id}")
        if not lifecycle.can_see(actor, row):
            raise PermissionDeniedError("this task is not yours to see")
        bundle = runtime.load_bundle(ctx, session, instance.definition_id)
        reading = Reading(ctx, session, actor, row, instance, bundle, f"task:{row.id}")
        form = bundle.forms.get(row.form_key) if row.form_key else None
        sections = sections_of(reading, registry.listed(submissions.spec_of(bundle, row.task_name), form))
        approves = tuple(replace(s, data=masked(s.data), previous=masked(s.previous) if s.previous else s.previous)
                         for s in submissions.approved_work(session, ctx.cipher, bundle, instance.id, row.task_name))
        if approves and instance.customer_id:
            reading.customers_shown.add(instance.customer_id)
        back = submissions.sent_back(session, ctx.cipher, bundle, instance.id, row.task_name)
        audit_shown(reading, [s.name for s in sections if not s.withheld] + (["approved_work"] if approves else []))
        return CaseFile(tuple(sections), approves, back)


def sections_of(reading: Reading, names: tuple[str, ...]) -> list[Section]:
    found = []
    for name in names:
        provider = registry.provider(name)
        section = provider(reading) if provider is not None else None
        if section is not None:
            found.append(section)
    return found


def audit_shown(r: Reading, shown: list[str]) -> None:
    now = r.ctx.clock.now()
    after = {"purpose": r.purpose, "sections": shown}
    for customer_id in sorted(r.customers_shown):
        audit.append(r.session, stream=f"customer:{customer_id}", actor=r.actor.username, action="customer.viewed",
                     subject_type="customer", subject_id=customer_id, at=now, after=after)
    if r.cases_shown and not r.customers_shown:
        for case_no in sorted(r.cases_shown):
            # task:<id>, or the reader's own stream on the desk (the case's stream is the process's to chain)
            stream = r.purpose if r.task is not None else f"user:{r.actor.username}"
            audit.append(r.session, stream=stream, actor=r.actor.username, action="complaint.viewed",
                         subject_type="complaint", subject_id=case_no, at=now, after=after)
