"""The built-in context providers: what a complaint handler, an approver or a customer manager needs to decide.

Each provider takes a :class:`~engine.casefile.model.Reading` and returns a section, ``None`` when it has nothing
for this task (a cross-sell task has no complaint), or a withheld section when the viewer lacks the permission.
Customer data is masked as everywhere else: the name in full only for those whose customer grant covers the
customer, the phone always masked here (the 360 page reveals it, with a reason), the ID number never.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from engine import authz
from engine.casefile import submissions
from engine.casefile.model import Entry, Fact, FileRef, Reading, Section
from engine.complaints.models import Complaint, ComplaintEvent
from engine.complaints.records import EVENT_LABELS, PROCESS_KEY, case_for_instance
from engine.customers.accounts_models import Product
from engine.customers.models import Consent, Customer
from engine.customers.service import CustomerAccess, customer_access
from engine.db.models import Attachment, HumanTask, HumanTaskStatus
from engine.errors import PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.privacy import complainant_phone, customer_field, mask_address, mask_email, mask_name, mask_phone
from engine.rules.care_dates import age_on
from engine.sales.models import SalesLead

LAST_CONTACTS = 5

# Form fields that hold identifying data (docs/domain.md §1.7 masking): shown masked in a case file whoever reads it.
_MASKS: dict[str, Callable[[str], str]] = {
    "name": mask_name, "phone": mask_phone, "email": mask_email, "address": mask_address,
    "id_number": lambda v: "*" * max(len(v) - 4, 0) + v[-4:], "family_contact": lambda v: "***" if v else "",
}


def masked(data: dict[str, Any]) -> dict[str, Any]:
    """A submission's data with identifying fields masked."""
    return {k: (_MASKS[k](str(v)) if k in _MASKS and isinstance(v, str) else v) for k, v in data.items()}


# --- complaints ------------------------------------------------------------------------------------------------


def _complaint(r: Reading, section: str) -> Complaint | Section | None:
    """The instance's complaint case, a withheld section (no read grant on complaints), or None (no case)."""
    if not authz.allows(r.ctx, r.actor, "read", "process", PROCESS_KEY):
        return Section(section, withheld=True)
    case = case_for_instance(r.session, r.instance_id)
    if case is None:
        return None
    r.cases_shown.add(case.case_no)
    if case.customer_id:
        r.customers_shown.add(case.customer_id)
    return case


def complaint_case(r: Reading) -> Section | None:
    """The complaint as filed and as it stands: number, channel, dates, facts, request, amount, the customer's files,
    the decision and answer so far, the customer's rating and review request."""
    case = _complaint(r, "complaint_case")
    if not isinstance(case, Complaint):
        return case
    phone = (r.ctx.cipher.decrypt(case.complainant_phone_enc, complainant_phone(case.case_no))
             if case.complainant_phone_enc else None)
    facts = (
        Fact("case_no", case.case_no), Fact("complaint_status", case.status, "choice:complaint_status"),
        Fact("channel", case.channel, "code:channel"), Fact("business_type", case.business_type, "code:business_type"),
        Fact("cause", case.cause, "code:cause"), Fact("received_at", case.received_at, "datetime"),
        Fact("target_due_on", case.target_due_on, "date"), Fact("legal_due_on", case.legal_due_on, "date"),
        Fact("regulator_due_on", case.regulator_due_on, "date"),
        Fact("extension", case.extension if case.extension != "none" else None, "choice:extension"),
        Fact("complainant", mask_name(case.complainant_name) or None), Fact("complainant_phone", mask_phone(phone) or None),
        Fact("customer_id", case.customer_id), Fact("group_size", case.group_size if case.group_size > 1 else None),
        Fact("summary", case.summary), Fact("facts", case.facts or None, "long"),
        Fact("request", case.request or None, "long"), Fact("amount", case.amount, "money"),
        Fact("decision", case.decision, "choice:decision"), Fact("answer", case.answer, "long"),
        Fact("satisfaction", f"{case.satisfaction} / 5" if case.satisfaction else None),
        Fact("satisfaction_comment", case.satisfaction_comment, "long"),
        Fact("review_requested_at", case.review_requested_at, "datetime"),
        Fact("review_reason", case.review_reason, "long"), Fact("review_due_on", case.review_due_on, "date"),
    )
    files = tuple(FileRef(a.id, a.filename, a.uploaded_by, a.at, a.uploaded_by.startswith("customer:"))
                  for a in r.session.scalars(select(Attachment).where(Attachment.instance_id == r.instance_id)
                                             .order_by(Attachment.at, Attachment.id)))
    return Section("complaint_case", facts=tuple(f for f in facts if f.value not in (None, "")), files=files)


# Event details worth a reader's line, and how the web words them.
_DETAILS = {"handler": "text", "approved_by": "text", "decision": "choice:decision", "new_target_on": "date",
            "score": "text", "result": "choice:review_result", "action": "choice:reopen_action",
            "reason": "choice:close_reason", "severity": "choice:severity"}


def _evidence(details: dict[str, Any]) -> tuple[Fact, ...]:
    """Staff recorded the customer's act (a recorded call, a letter, a counter slip): who, and on what evidence."""
    recorded = details.get("recorded_for_customer")
    if not isinstance(recorded, dict):
        return ()
    return (Fact("recorded_by", str(recorded.get("recorded_by") or "")),
            Fact("evidence", str(recorded.get("channel") or ""), "choice:evidence"),
            Fact("evidence_reference", str(recorded.get("reference") or "")))


def complaint_timeline(r: Reading) -> Section | None:
    """The case's events in words: what happened, when, who did it (handler, approver), and the decision."""
    case = _complaint(r, "complaint_timeline")
    if not isinstance(case, Complaint):
        return case
    entries = []
    for e in r.session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id == case.id)
                               .order_by(ComplaintEvent.id)):
        zh, en = EVENT_LABELS.get(e.kind, (e.kind, e.kind))
        details = e.details or {}
        shown = tuple(Fact(k, details[k], kind) for k, kind in _DETAILS.items()
                      if isinstance(details.get(k), (str, int)) and details.get(k) not in ("", None))
        entries.append(Entry(e.at, e.kind, zh, en, e.actor, shown + _evidence(details)))
    return Section("complaint_timeline", entries=tuple(entries))


# --- customers -------------------------------------------------------------------------------------------------


def _customer(r: Reading, section: str) -> tuple[Customer, CustomerAccess] | Section | None:
    """The task's customer and why the viewer may read them, a withheld section, or None (no customer)."""
    customer = r.session.get(Customer, r.customer_id) if r.customer_id else None
    if customer is None:
        return None
    try:
        access = customer_access(r.ctx, r.session, r.actor, customer)
    except PermissionDeniedError:
        return Section(section, withheld=True)
    r.customers_shown.add(customer.id)
    return customer, access


def customer_summary(r: Reading) -> Section | None:
    """Who the customer is: name (masked unless the viewer's grant covers them), tier, manager, masked phone, age,
    do-not-disturb and marketing consent."""
    found = _customer(r, "customer_summary")
    if not isinstance(found, tuple):
        return found
    c, access = found
    today = r.ctx.clock.now().astimezone(r.ctx.settings.zone).date()
    marketing = r.session.scalar(select(Consent.granted).where(
        Consent.customer_id == c.id, Consent.channel == "all", Consent.purpose == "marketing"))
    facts = (
        Fact("customer_id", c.id), Fact("customer_name", c.name if access.full_name else mask_name(c.name)),
        Fact("tier", c.tier, "choice:tier"), Fact("manager", c.manager), Fact("branch", c.branch),
        Fact("phone", mask_phone(r.ctx.cipher.decrypt(c.phone_enc, customer_field("phone", c.id))) or None),
        Fact("age", age_on(c.birth_date, today) if c.birth_date else None),
        Fact("preferred_channel", c.preferred_channel, "choice:channel"),
        Fact("do_not_disturb", c.do_not_disturb, "yesno"), Fact("marketing_consent", bool(marketing), "yesno"),
    )
    return Section("customer_summary", facts=tuple(f for f in facts if f.value not in (None, "")))


def suitability(r: Reading) -> Section | None:
    """The customer's risk level (C1–C5) and until when it holds, and, for a lead, the suitability decision with its
    reasons as the check gave them."""
    found = _customer(r, "suitability")
    if not isinstance(found, tuple):
        return found
    c, _ = found
    today = r.ctx.clock.now().astimezone(r.ctx.settings.zone).date()
    facts = [Fact("risk_level", f"C{c.risk_level}" if c.risk_level else None),
             Fact("risk_valid_until", c.risk_valid_until, "date"),
             Fact("risk_expired", c.risk_valid_until is None or c.risk_valid_until < today, "yesno")]
    entries: list[Entry] = []
    lead = r.session.scalars(select(SalesLead).where(SalesLead.instance_id == r.instance_id)).first()
    if lead is not None:
        result = lead.suitability or {}
        product = r.session.get(Product, lead.product_code)
        facts += [Fact("product", f"{product.name}（{product.code}）" if product else lead.product_code),
                  Fact("lead_reason", lead.reason),
                  Fact("suitability_decision", result.get("decision"), "choice:suitability")]
        entries = [Entry(lead.updated_at, str(reason.get("code", "")), str(reason.get("zh", "")),
                         str(reason.get("en", ""))) for reason in result.get("reasons", []) if isinstance(reason, dict)]
    return Section("suitability", facts=tuple(f for f in facts if f.value not in (None, "")), entries=tuple(entries))


def last_contacts(r: Reading) -> Section | None:
    """The latest messages sent to the customer and the latest tasks done for them in other processes."""
    found = _customer(r, "last_contacts")
    if not isinstance(found, tuple):
        return found
    c, _ = found
    entries = [Entry(m.created_at, "message", "消息", "Message", None,
                     (Fact("template", m.template, "label:template"), Fact("message_channel", m.channel, "label:message_channel"),
                      Fact("message_status", m.status, "choice:message_status")))
               for m in r.session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == c.id)
                                          .order_by(OutboxMessage.created_at.desc()).limit(LAST_CONTACTS))]
    entries += [Entry(t.completed_at, "task", t.title, t.title, t.completed_by)
                for t in r.session.scalars(select(HumanTask).where(
                    HumanTask.customer_id == c.id, HumanTask.status == HumanTaskStatus.COMPLETED.value,
                    HumanTask.instance_id != r.instance_id, HumanTask.completed_at.is_not(None))
                    .order_by(HumanTask.completed_at.desc()).limit(LAST_CONTACTS)) if t.completed_at is not None]
    entries.sort(key=lambda e: e.at, reverse=True)
    return Section("last_contacts", entries=tuple(entries[:LAST_CONTACTS * 2]))


# --- the work so far -------------------------------------------------------------------------------------------


def earlier_decisions(r: Reading) -> Section | None:
    """What was submitted on the instance's tasks so far, every round, oldest first, identifying fields masked
    (what an approval task approves is shown on its own, not here again)."""
    approved = {(s.element_id, s.round) for s in submissions.approved_work(
        r.session, r.ctx.cipher, r.bundle, r.instance_id, r.task.task_name)} if r.task else set()
    items = [s for s in submissions.history(r.session, r.ctx.cipher, r.bundle, r.instance_id)
             if (s.element_id, s.round) not in approved]
    if not items:
        return None
    if r.instance.customer_id:
        r.customers_shown.add(r.instance.customer_id)
    return Section("earlier_decisions", submissions=tuple(
        replace(s, data=masked(s.data), previous=masked(s.previous) if s.previous is not None else None)
        for s in items))


BUILT_IN: dict[str, Callable[[Reading], Section | None]] = {
    "complaint_case": complaint_case, "complaint_timeline": complaint_timeline,
    "customer_summary": customer_summary, "suitability": suitability, "last_contacts": last_contacts,
    "earlier_decisions": earlier_decisions,
}
