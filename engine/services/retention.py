"""Retention: ended instances are archived once their process's history time-to-live has passed, unless a legal
hold keeps them (docs/domain.md §3.4; like Camunda's ``historyTimeToLive`` and history cleanup).

Archiving an instance drops what it held about the customer and keeps what the bank must be able to show:

- dropped: the workflow state (its variables), the sealed form submissions and drafts, the comments, the
  attachments (rows, and files no other row names);
- kept: the instance row as a summary (process, business key, customer number, status, dates, who started it),
  its human tasks' titles and dates (reports), and the audit chain, which gets one more event,
  ``instance.archived``, naming the chain head it closes over (a tombstone, never a gap: ``careflow audit verify``
  still verifies every stream).

What is not archived although its time-to-live has passed:

- an active legal hold on the instance, on its customer or on its whole process (``careflow retention hold``);
- an open dispute: any running complaint of the same customer holds all of that customer's instances;
- the anti-money-laundering records (``settings.retention.aml_processes``: onboarding and sales): kept while the
  customer relationship lasts and ``retention.aml_kyc_years`` after it ended (反洗钱法 2024 Art. 34). The end of a
  relationship is taken as the last change of a customer row in status closed or deceased (the core-banking import
  sets it); a dedicated closure date is the next step. A customer erased (engine.dsr.erasure) holds nothing.

The run then calls the steps features add (``ctx.retention_steps``): the data-subject feature anonymises the
customers whose relationship ended more than ``retention.aml_kyc_years`` ago (engine.dsr.erasure); their counts are in
the report's ``steps``.

Each run works in batches, one transaction each (a killed run leaves every batch archived or untouched); each
archive is audited. ``dry_run`` counts what a run would archive and changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, column, delete, exists, not_, or_, select, table, update
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.base import UTCDateTime
from engine.db.casefile import TaskDraft, TaskSubmission
from engine.db.models import Attachment, Comment, HumanTask, InstanceStatus, ProcessInstance
from engine.db.retention import LegalHold
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, NotFoundError
from engine.services.authz import require_role
from engine.views import Actor

log = logging.getLogger(__name__)

ENDED = (InstanceStatus.COMPLETED.value, InstanceStatus.CANCELLED.value)
RELATIONSHIP_ENDED = ("closed", "deceased")
ERASED = "erased"  # a customer whose personal data was erased (engine.dsr.erasure): a tombstone row
# The customers feature's table, named here as a table clause: the engine core imports no feature's models (the
# import-linter contract); retention only reads whether and when a relationship ended.
Customer = table("customer", column("id", String), column("status", String),
                 column("updated_at", UTCDateTime(timezone=True)))
HOLD_SUBJECTS = ("instance", "customer", "process")
DISPUTE_PROCESS = "complaint_handling"
BATCH = 200


@dataclass
class RetentionReport:
    dry_run: bool
    archived: int = 0
    by_process: dict[str, int] = field(default_factory=dict)
    files_deleted: int = 0
    steps: dict[str, int] = field(default_factory=dict)  # the features' steps (ctx.retention_steps): name -> count


def ttl_days(ctx: EngineContext, process_key: str) -> int:
    """The process's history time-to-live in days (its own setting, else the default)."""
    return dict(ctx.settings.retention.history_by_process).get(process_key, ctx.settings.retention.history_days)


def run(ctx: EngineContext, *, dry_run: bool = False, actor: str = "retention", limit: int | None = None
        ) -> RetentionReport:
    """Archive every ended instance past its time-to-live that no hold keeps (at most ``limit``)."""
    report = RetentionReport(dry_run=dry_run)
    counts: Counter[str] = Counter()
    now = ctx.clock.now()
    if dry_run:
        with unit_of_work(ctx.sessions, write=False) as session:
            stmt = _due(ctx, session, now)
            due = session.execute(stmt if limit is None else stmt.limit(limit)).all()
        counts.update(row.process_key for row in due)
        report.archived = len(due)
    while not dry_run and (limit is None or report.archived < limit):
        size = BATCH if limit is None else min(BATCH, limit - report.archived)
        with unit_of_work(ctx.sessions) as session:
            due = session.execute(_due(ctx, session, now).limit(size)).all()
            if not due:
                break
            files = _archive(session, due, now, actor, ctx)
        counts.update(row.process_key for row in due)
        report.archived += len(due)
        report.files_deleted += _delete_unreferenced(ctx, files)
    report.by_process = dict(sorted(counts.items()))
    for name, step in ctx.retention_steps.items():
        report.steps[name] = step(now, dry_run, actor)
    if report.archived and not dry_run:
        log.info("retention archived %d instance(s): %s", report.archived, report.by_process)
    return report


def _due(ctx: EngineContext, session: Session, now: datetime) -> Any:
    """Ended, not archived, past the time-to-live of its process, and held by nothing."""
    pi = ProcessInstance
    specific = dict(ctx.settings.retention.history_by_process)
    past = [and_(pi.process_key == key, pi.ended_at < now - timedelta(days=days)) for key, days in specific.items()]
    past.append(and_(pi.process_key.not_in(list(specific) or [""]),
                     pi.ended_at < now - timedelta(days=ctx.settings.retention.history_days)))
    active = LegalHold.released_at.is_(None)
    held_instances = [_uuid(value) for value in session.scalars(
        select(LegalHold.subject_id).where(active, LegalHold.subject_type == "instance"))]
    held = or_(
        pi.id.in_([value for value in held_instances if value is not None]),
        exists().where(active, LegalHold.subject_type == "customer", LegalHold.subject_id == pi.customer_id),
        exists().where(active, LegalHold.subject_type == "process", LegalHold.subject_id == pi.process_key),
    )
    dispute = ProcessInstance.__table__.alias("dispute")
    disputed = exists().where(dispute.c.process_key == DISPUTE_PROCESS, dispute.c.status == InstanceStatus.RUNNING.value,
                              dispute.c.customer_id == pi.customer_id)
    aml_until = now - timedelta(days=365 * ctx.settings.retention.aml_kyc_years + 3)  # leap days: never early
    aml = and_(pi.process_key.in_(list(ctx.settings.retention.aml_processes) or [""]), exists().where(
        Customer.c.id == pi.customer_id, Customer.c.status != ERASED,
        or_(Customer.c.status.not_in(RELATIONSHIP_ENDED), Customer.c.updated_at >= aml_until)))
    return (select(pi.id, pi.process_key, pi.audit_head)
            .where(pi.status.in_(ENDED), pi.archived_at.is_(None), pi.ended_at.is_not(None), or_(*past),
                   not_(held), not_(and_(pi.customer_id.is_not(None), disputed)), not_(aml))
            .order_by(pi.ended_at, pi.id))


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def archive_now(ctx: EngineContext, session: Session, instance_ids: Sequence[uuid.UUID], now: datetime, actor: str
                ) -> tuple[int, set[str]]:
    """Archive these ended, not yet archived instances now, whatever their time-to-live (an erasure: the customer's
    data goes, the summary rows and the audit chains stay). Returns how many, and the files to pass to
    :func:`delete_unreferenced` after the commit."""
    pi = ProcessInstance
    due = session.execute(select(pi.id, pi.process_key, pi.audit_head).where(
        pi.id.in_(list(instance_ids)), pi.status.in_(ENDED), pi.archived_at.is_(None))).all()
    return len(due), (_archive(session, due, now, actor, ctx) if due else set())


def delete_unreferenced(ctx: EngineContext, digests: set[str]) -> int:
    return _delete_unreferenced(ctx, digests)


def _archive(session: Session, due: Sequence[Any], now: datetime, actor: str, ctx: EngineContext) -> set[str]:
    ids = [row.id for row in due]
    files = set(session.scalars(select(Attachment.sha256).where(Attachment.instance_id.in_(ids))))
    removed: dict[uuid.UUID, Counter[str]] = {i: Counter() for i in ids}
    for kind, label in ((TaskSubmission, "form_submissions"), (Comment, "comments"), (Attachment, "attachments")):
        for instance_id in session.scalars(select(kind.instance_id).where(kind.instance_id.in_(ids))):
            removed[instance_id][label] += 1
        session.execute(delete(kind).where(kind.instance_id.in_(ids)))
    session.execute(delete(TaskDraft).where(TaskDraft.task_id.in_(
        select(HumanTask.id).where(HumanTask.instance_id.in_(ids)))))
    for row in due:
        head = audit.append(session, stream=f"instance:{row.id}", actor=actor, action="instance.archived",
                            subject_type="instance", subject_id=str(row.id), at=now, prev_hash=row.audit_head,
                            after={"ttl_days": ttl_days(ctx, row.process_key), "checkpoint": row.audit_head,
                                   "removed": dict(removed[row.id])})
        session.execute(update(ProcessInstance).where(ProcessInstance.id == row.id)
                        .values(state="", error_details=None, archived_at=now, audit_head=head,
                                revision=ProcessInstance.revision + 1))
    return files


def _delete_unreferenced(ctx: EngineContext, digests: set[str]) -> int:
    """Files of archived attachments that no remaining row names (the store is content-addressed: two cases may
    share a file). After the commit: a crash in between leaves an orphan file, never a row without its file."""
    if not digests:
        return 0
    with unit_of_work(ctx.sessions, write=False) as session:
        still = set(session.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(digests))))
    deleted = 0
    for digest in digests - still:
        path = ctx.settings.uploads.dir / digest[:2] / digest
        if path.exists():
            path.unlink()
            deleted += 1
    return deleted


@dataclass(frozen=True)
class HoldView:
    id: int
    subject_type: str
    subject_id: str
    reason: str
    placed_by: str
    placed_at: datetime


def place_hold(ctx: EngineContext, subject_type: str, subject_id: str, *, reason: str, actor: Actor) -> HoldView:
    """Keep an instance, a customer's instances or a whole process from retention until the hold is released."""
    require_role(actor, "supervisor")
    if subject_type not in HOLD_SUBJECTS:
        raise InvalidInputError(f"a hold is on one of {', '.join(HOLD_SUBJECTS)}, not {subject_type!r}")
    if not reason.strip() or not subject_id.strip() or len(subject_id) > 128 or len(reason) > 2000:
        raise InvalidInputError("a hold names its subject (at most 128 characters) and why (at most 2000)")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        hold = LegalHold(subject_type=subject_type, subject_id=subject_id.strip(), reason=reason.strip(),
                         placed_by=actor.username, placed_at=now)
        session.add(hold)
        session.flush()
        audit.append(session, stream="system:legal_hold", actor=actor.username, action="legal_hold.placed",
                     subject_type=subject_type, subject_id=hold.subject_id, at=now,
                     after={"hold": hold.id, "reason": hold.reason})
        return HoldView(hold.id, hold.subject_type, hold.subject_id, hold.reason, hold.placed_by, hold.placed_at)


def release_hold(ctx: EngineContext, hold_id: int, *, actor: Actor) -> None:
    require_role(actor, "supervisor")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        hold = session.get(LegalHold, hold_id, with_for_update=True)
        if hold is None or hold.released_at is not None:
            raise NotFoundError(f"no active legal hold {hold_id}")
        hold.released_at, hold.released_by = now, actor.username
        audit.append(session, stream="system:legal_hold", actor=actor.username, action="legal_hold.released",
                     subject_type=hold.subject_type, subject_id=hold.subject_id, at=now, after={"hold": hold.id})


def active_holds(ctx: EngineContext) -> list[HoldView]:
    with unit_of_work(ctx.sessions, write=False) as session:
        rows = session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.id))
        return [HoldView(h.id, h.subject_type, h.subject_id, h.reason, h.placed_by, h.placed_at) for h in rows]
