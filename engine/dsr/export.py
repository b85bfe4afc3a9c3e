"""The copy of a customer's personal data an access request answers with (PIPL Art. 45, docs/domain.md §3.1): what
CareFlow holds about them, decrypted, as one JSON document or an xlsx workbook (one sheet per section).

Sections: the customer record (contact data and KYC profile decrypted), consents, accounts and holdings, complaints
(with the complainant's name and phone, the texts and the answer), the messages sent or queued to them (template,
channel, purpose, status, dates; not their parameters, which may be one-time codes), in-app notices, the process
instances about them (process, business key, status, dates; not their workflow state) and their tasks' titles, and
the audit events about them (their stream: who read or changed what, and when).
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.complaints.models import Complaint
from engine.context import EngineContext
from engine.customers.accounts_models import CustomerAccount, CustomerHolding
from engine.customers.models import Consent, Customer
from engine.db.models import AuditEvent, HumanTask, ProcessInstance
from engine.outbox.models import Notification, OutboxMessage
from engine.privacy import complainant_phone, customer_field

LIMIT = 5000  # rows per section: a customer with more is a case for a person, not a download


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _row(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _plain(getattr(obj, name)) for name in names}


def collect(ctx: EngineContext, session: Session, customer: Customer) -> dict[str, Any]:
    cid, cipher = customer.id, ctx.cipher

    def field(column: str) -> str | None:
        return cipher.decrypt(getattr(customer, f"{column}_enc"), customer_field(column, cid))

    record = _row(customer, ("id", "name", "gender", "birth_date", "birthday_calendar", "tier", "branch", "manager",
                             "language", "preferred_channel", "do_not_disturb", "status", "customer_since",
                             "occupation", "income_band", "source_of_funds", "risk_level", "risk_valid_until",
                             "wechat_openid", "created_at", "updated_at"))
    record |= {"phone": field("phone"), "email": field("email"), "id_number": field("id_number"),
               "address": field("address")}
    consents = [_row(c, ("channel", "purpose", "granted", "source", "updated_at")) for c in session.scalars(
        select(Consent).where(Consent.customer_id == cid).order_by(Consent.channel, Consent.purpose))]
    accounts = [_row(a, ("external_id", "kind", "number_last4", "currency", "balance", "avg_daily_balance",
                         "opened_on")) for a in session.scalars(
        select(CustomerAccount).where(CustomerAccount.customer_id == cid).limit(LIMIT))]
    holdings = [_row(h, ("product_code", "amount", "bought_on", "matures_on")) for h in session.scalars(
        select(CustomerHolding).where(CustomerHolding.customer_id == cid).limit(LIMIT))]
    complaints = []
    for case in session.scalars(select(Complaint).where(Complaint.customer_id == cid)
                                .order_by(Complaint.received_at).limit(LIMIT)):
        item = _row(case, ("case_no", "channel", "business_type", "cause", "summary", "facts", "request", "amount",
                           "status", "received_at", "decision", "answer", "answered_at", "satisfaction",
                           "satisfaction_comment", "review_reason", "closed_at"))
        item["complainant_name"] = case.complainant_name
        item["complainant_phone"] = cipher.decrypt(case.complainant_phone_enc, complainant_phone(case.case_no))
        complaints.append(item)
    messages = [_row(m, ("id", "channel", "purpose", "template", "status", "created_at", "sent_at"))
                for m in session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == cid)
                                         .order_by(OutboxMessage.id).limit(LIMIT))]
    notices = [_row(n, ("title", "body", "created_at", "read_at")) for n in session.scalars(
        select(Notification).where(Notification.customer_id == cid).order_by(Notification.id).limit(LIMIT))]
    instances = [_row(i, ("id", "process_key", "business_key", "status", "started_at", "ended_at", "archived_at"))
                 for i in session.scalars(select(ProcessInstance).where(ProcessInstance.customer_id == cid)
                                          .order_by(ProcessInstance.started_at).limit(LIMIT))]
    for item in instances:
        item["id"] = str(item["id"])
    tasks = [{"instance_id": str(t.instance_id), "title": t.title, "status": t.status,
              "created_at": _plain(t.created_at), "completed_at": _plain(t.completed_at)}
             for t in session.scalars(select(HumanTask).where(HumanTask.customer_id == cid)
                                      .order_by(HumanTask.created_at).limit(LIMIT))]
    events = [{"at": _plain(e.at), "actor": e.actor, "action": e.action, "subject": f"{e.subject_type}:{e.subject_id}",
               "details": e.after} for e in session.scalars(
        select(AuditEvent).where(or_(AuditEvent.stream == f"customer:{cid}",
                                     (AuditEvent.subject_type == "customer") & (AuditEvent.subject_id == cid)))
        .order_by(AuditEvent.id).limit(LIMIT))]
    return {"customer": record, "consents": consents, "accounts": accounts, "holdings": holdings,
            "complaints": complaints, "messages": messages, "notices": notices, "instances": instances,
            "tasks": tasks, "audit_events": events}


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def to_xlsx(data: dict[str, Any]) -> bytes:
    """One sheet per section; the customer record as field/value lines, the others as tables."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    for name, section in data.items():
        sheet = book.add_worksheet(name[:31])
        if isinstance(section, dict):
            for r, (key, value) in enumerate(section.items()):
                sheet.write_string(r, 0, key, bold)
                sheet.write_string(r, 1, "" if value is None else str(value))
            continue
        columns = list(dict.fromkeys(k for item in section for k in item))
        for c, key in enumerate(columns):
            sheet.write_string(0, c, key, bold)
        for r, item in enumerate(section, start=1):
            for c, key in enumerate(columns):
                value = item.get(key)
                text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, (dict, list)) else (
                    "" if value is None else str(value))
                sheet.write_string(r, c, text)
    book.close()
    return buffer.getvalue()
