"""Erasing a customer's personal data, and what keeps it (docs/personal-data.md, "Data-subject requests and erasure").

PIPL Art. 47 (docs/domain.md §3.1) asks for deletion when the purpose is done or the retention period has passed, and
lets a law's retention period prevail: the processor then stops all processing but storage and security. The law that
prevails here is the AML rule (反洗钱法 2024 Art. 34, docs/domain.md §3.4): customer identity (KYC) records are kept
while the relationship lasts and ``retention.aml_kyc_years`` after it ended. So a customer's data is erased only when
nothing holds it:

- ``relationship_active``: the customer is still the bank's customer (status not closed or deceased);
- ``aml_retention``: the relationship ended less than ``retention.aml_kyc_years`` ago (the hold ends on the
  anniversary, taken as the last change of the closed row, as engine.services.retention does);
- ``legal_hold``: an active legal hold on the customer or one of their instances (``careflow retention hold``);
- ``open_complaint``: a complaint of the customer not closed, withdrawn or merged (a dispute, docs/domain.md §3.4);
- ``in_progress``: an instance about the customer still running (its purpose is not done yet).

Erasing keeps the rows others point at and the audit chains whole (tombstones, never gaps):

- the customer row stays, with status ``erased``: name, birth date and birthday columns, phone, e-mail, ID number,
  address, WeChat id, gender, KYC profile and financial profile are cleared (the name becomes a tombstone text);
- consents are closed (every one refused, source ``erasure``); accounts, holdings, risk assessments and tier history
  rows are deleted; the in-app notices are deleted;
- the customer's ended instances are archived now (engine.services.retention.archive_now: state, form data, drafts,
  comments and attachments deleted; an ``instance.archived`` tombstone on each chain);
- the customer's complaints keep their case number, classification, dates and decision; the complainant's name and
  phone, the free texts (summary, facts, request, answer, rating comment, review reason) are cleared;
- outbox messages keep channel, template, purpose, status and dates; their parameters are cleared, and messages not
  yet sent are suppressed; the search index forgets the customer and their cases;
- the customer's audit stream gets ``customer.erased``, with counts and the basis only, never personal data. Audit
  events are never removed or rewritten; they hold masked values only (docs/domain.md §3.4).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from engine import audit
from engine.complaints.models import FINAL_STATUSES, Complaint
from engine.context import EngineContext
from engine.customers.accounts_models import CustomerAccount, CustomerHolding, RiskAssessment, TierChange
from engine.customers.models import Consent, Customer, CustomerStatus
from engine.db.models import ProcessInstance
from engine.db.retention import LegalHold
from engine.db.search import SearchKind, SearchToken
from engine.db.session import unit_of_work
from engine.dsr.models import DataSubjectRequest, RequestKind, RequestStatus
from engine.outbox.models import Notification, OutboxMessage, OutboxStatus
from engine.services import retention

log = logging.getLogger(__name__)
ERASED = CustomerStatus.ERASED.value  # the same code engine.services.retention (core) knows as retention.ERASED
TOMBSTONE_NAME = "[已删除 erased]"
TOMBSTONE_TEXT = "[已删除 erased]"
HOLD_REASONS = ("relationship_active", "aml_retention", "legal_hold", "open_complaint", "in_progress",
                "already_erased")
STEP = "customers_anonymised"
BATCH = 100


@dataclass(frozen=True)
class Hold:
    reason: str  # one of HOLD_REASONS
    until: date | None = None  # the last day it holds, when known (aml_retention)


def register(ctx: EngineContext) -> None:
    """Add the anonymisation of customers past the AML years to the nightly retention run."""
    ctx.retention_steps[STEP] = lambda now, dry_run, actor: anonymise_expired(ctx, now=now, dry_run=dry_run,
                                                                              actor=actor)


def aml_hold_ends(ctx: EngineContext, ended: date) -> date:
    """The last day the AML period holds: the ``aml_kyc_years`` anniversary of the relationship's end (a 29 February
    end runs to 1 March, never early). The day after it the data may be erased."""
    years = ctx.settings.retention.aml_kyc_years
    try:
        return ended.replace(year=ended.year + years)
    except ValueError:
        return date(ended.year + years, 3, 1)


def relationship_ended_on(ctx: EngineContext, customer: Customer) -> date | None:
    if customer.status not in retention.RELATIONSHIP_ENDED:
        return None
    return customer.updated_at.astimezone(ctx.settings.zone).date()


def holds(ctx: EngineContext, session: Session, customer: Customer, today: date) -> list[Hold]:
    """What keeps this customer's personal data now (empty: it may be erased)."""
    if customer.status == ERASED:
        return [Hold("already_erased")]
    found: list[Hold] = []
    ended = relationship_ended_on(ctx, customer)
    if ended is None:
        found.append(Hold("relationship_active"))
    elif today <= (until := aml_hold_ends(ctx, ended)):
        found.append(Hold("aml_retention", until))
    instance_ids = [str(i) for i in session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.customer_id == customer.id))]
    active = LegalHold.released_at.is_(None)
    if session.scalar(select(exists().where(active, or_(
            (LegalHold.subject_type == "customer") & (LegalHold.subject_id == customer.id),
            (LegalHold.subject_type == "instance") & LegalHold.subject_id.in_(instance_ids or [""]))))):
        found.append(Hold("legal_hold"))
    if session.scalar(select(exists().where(Complaint.customer_id == customer.id,
                                            Complaint.status.not_in([s.value for s in FINAL_STATUSES])))):
        found.append(Hold("open_complaint"))
    if session.scalar(select(exists().where(ProcessInstance.customer_id == customer.id,
                                            ProcessInstance.status.not_in(retention.ENDED)))):
        found.append(Hold("in_progress"))
    return found


def erase(ctx: EngineContext, session: Session, customer_id: str, *, now: datetime, actor: str, basis: str,
          except_request: int = 0) -> tuple[dict[str, int], set[str]]:
    """Erase the customer's personal data in ``session``'s transaction (the caller checked :func:`holds`).
    Returns the counts (audited) and the attachment files to delete after the commit."""
    customer = session.get(Customer, customer_id, with_for_update=True)
    assert customer is not None
    counts: dict[str, int] = {}
    ids = list(session.scalars(select(ProcessInstance.id).where(ProcessInstance.customer_id == customer_id)))
    counts["instances_archived"], files = retention.archive_now(ctx, session, ids, now, actor)
    cases = list(session.scalars(select(Complaint).where(Complaint.customer_id == customer_id)))
    for case in cases:
        case.complainant_name_enc = case.complainant_phone_enc = case.complainant_phone_index = None
        case.summary, case.facts, case.request = TOMBSTONE_TEXT, "", ""
        case.answer = TOMBSTONE_TEXT if case.answer else None
        case.satisfaction_comment = case.review_reason = None
        case.updated_at = now
    counts["complaints_cleared"] = len(cases)
    session.execute(delete(SearchToken).where(or_(
        (SearchToken.kind == int(SearchKind.CUSTOMER)) & (SearchToken.ref == customer_id),
        (SearchToken.kind == int(SearchKind.CASE)) & SearchToken.ref.in_([c.case_no for c in cases] or [""]))))
    messages = OutboxMessage.customer_id == customer_id
    counts["messages_cleared"] = _rows(session.execute(update(OutboxMessage).where(messages).values(params={})))
    session.execute(update(OutboxMessage).where(messages, OutboxMessage.status == OutboxStatus.PENDING.value)
                    .values(status=OutboxStatus.SUPPRESSED.value, status_reason="customer_erased", finished_at=now))
    counts["notices_deleted"] = _rows(session.execute(delete(Notification).where(
        Notification.customer_id == customer_id)))
    for model, label in ((CustomerAccount, "accounts_deleted"), (CustomerHolding, "holdings_deleted"),
                         (RiskAssessment, "risk_assessments_deleted"), (TierChange, "tier_changes_deleted")):
        counts[label] = _rows(session.execute(delete(model).where(model.customer_id == customer_id)))
    counts["consents_closed"] = _rows(session.execute(update(Consent).where(Consent.customer_id == customer_id).values(
        granted=False, source="erasure", updated_at=now)))
    _tombstone(customer, now)
    audit.append(session, stream=f"customer:{customer_id}", actor=actor, action="customer.erased",
                 subject_type="customer", subject_id=customer_id, at=now, after={"basis": basis, "removed": counts})
    # A deletion request still open (the retention run erased first, or a second channel): done by this erasure.
    for row in session.scalars(select(DataSubjectRequest).where(
            DataSubjectRequest.customer_id == customer_id, DataSubjectRequest.kind == RequestKind.DELETION.value,
            DataSubjectRequest.status == RequestStatus.RECEIVED.value, DataSubjectRequest.id != except_request)):
        row.status, row.handled_by, row.answered_at = RequestStatus.ANSWERED.value, actor, now
        audit.append(session, stream=f"customer:{customer_id}", actor=actor, action="dsr.answered",
                     subject_type="data_subject_request", subject_id=str(row.id), at=now,
                     after={"kind": row.kind, "erased": True, "basis": basis, "late": row.due_at < now})
    return counts, files


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _tombstone(customer: Customer, now: datetime) -> None:
    customer.name, customer.birth_date = TOMBSTONE_NAME, None
    for column in ("gender", "birthday_md", "lunar_month", "lunar_day", "phone_enc", "phone_index", "email_enc",
                   "id_number_enc", "id_number_index", "address_enc", "wechat_openid", "occupation", "income_band",
                   "source_of_funds", "risk_level", "risk_valid_until", "next_revisit_on", "tier_below_since",
                   "manager"):
        setattr(customer, column, None)
    customer.lunar_leap = customer.professional_investor = customer.qualified_investor = False
    customer.birthday_calendar, customer.do_not_disturb = "solar", True
    customer.aum = customer.aum * 0
    customer.status, customer.updated_at = ERASED, now


def anonymise_expired(ctx: EngineContext, *, now: datetime, dry_run: bool = False, actor: str = "retention") -> int:
    """Erase every customer whose relationship ended more than ``retention.aml_kyc_years`` ago and whom nothing else
    holds (legal hold, open complaint, running instance); one transaction per customer, each audited."""
    today = now.astimezone(ctx.settings.zone).date()
    # A broad cut in SQL (the years at 365 days are never later than the anniversary), the exact day per row.
    cut = now - timedelta(days=365 * ctx.settings.retention.aml_kyc_years)
    with unit_of_work(ctx.sessions, write=False) as session:
        candidates: Sequence[str] = session.scalars(select(Customer.id).where(
            Customer.status.in_(retention.RELATIONSHIP_ENDED), Customer.updated_at < cut).order_by(Customer.id)).all()
    done = 0
    for customer_id in candidates:
        with unit_of_work(ctx.sessions, write=not dry_run) as session:
            customer = session.get(Customer, customer_id)
            if customer is None or holds(ctx, session, customer, today):
                continue
            done += 1
            if dry_run:
                continue
            _counts, files = erase(ctx, session, customer_id, now=now, actor=actor, basis="retention")
        retention.delete_unreferenced(ctx, files)
    if done and not dry_run:
        log.info("retention anonymised %d customer(s) past the AML years", done)
    return done


def describe(found: list[Hold]) -> dict[str, Any]:
    """The first hold as (reason, until) for a refusal."""
    first = found[0]
    until = max((h.until for h in found if h.until), default=None)
    return {"reason": first.reason, "until": until, "all": [h.reason for h in found]}
