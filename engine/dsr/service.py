"""Data-subject requests: a customer asks for a copy of their personal data (PIPL Art. 45) or its deletion (Art. 47),
from the portal or at a branch or by phone; staff answer within ``retention.dsr_answer_workdays`` working days on the
bank's calendar (docs/domain.md §3.7: PIPL sets no count, app rules use 15 working days).

Who may do what: a signed-in portal customer (actor ``customer:<id>``) files requests for themselves and reads only
their own; the ``compliance`` and ``supervisor`` roles (and admins) record branch and phone requests, list and
answer them (:data:`HANDLER_ROLES`, docs/personal-data.md). Every transition is one transaction with an event on the
customer's audit stream (``dsr.received``, ``dsr.answered``, ``dsr.refused``, ``dsr.export_downloaded``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.customers.models import Consent, Customer
from engine.db.session import unit_of_work
from engine.dsr import erasure
from engine.dsr.models import DataSubjectRequest, RequestKind, RequestStatus
from engine.errors import ConflictError, CustomerNotFoundError, InvalidInputError, NotFoundError
from engine.privacy import mask_name
from engine.services import retention
from engine.services.authz import require_role
from engine.views import Actor

HANDLER_ROLES = ("compliance", "supervisor")
KINDS = tuple(k.value for k in RequestKind)
STAFF_CHANNELS = ("branch", "phone")
CHANNELS = ("portal", *STAFF_CHANNELS)
# Reasons staff may give for refusing a request themselves (a deletion's holds are found by engine.dsr.erasure).
MANUAL_REFUSALS = ("identity_not_verified", "not_the_customer", "repeated_request")
MAX_TEXT = 4000


@dataclass(frozen=True)
class RequestView:
    id: int
    customer_id: str
    customer_name: str  # masked (张*丰); the tombstone once erased
    kind: str
    channel: str
    status: str
    received_at: datetime
    due_at: datetime
    overdue: bool
    recorded_by: str
    note: str
    handled_by: str | None
    answered_at: datetime | None
    answer: str | None
    refusal_reason: str | None
    hold_until: date | None


def is_customer(actor: Actor, customer_id: str) -> bool:
    return actor.username == f"customer:{customer_id}" and actor.roles == frozenset({"customer"})


def due_at(ctx: EngineContext, received: datetime) -> datetime:
    """``retention.dsr_answer_workdays`` working days after receipt on the bank's calendar, same bank-local time."""
    local = received.astimezone(ctx.settings.zone)
    return ctx.calendar.add_workdays_at(local, ctx.settings.retention.dsr_answer_workdays).astimezone(received.tzinfo)


def file_request(ctx: EngineContext, kind: str, *, actor: Actor) -> RequestView:
    """A signed-in portal customer asks for their own data or its deletion."""
    if not actor.username.startswith("customer:") or not is_customer(actor, actor.username.partition(":")[2]):
        raise NotFoundError("only a signed-in customer files a request from the portal")
    return _create(ctx, actor.username.partition(":")[2], kind, "portal", "", actor)


def record_request(ctx: EngineContext, customer_id: str, kind: str, channel: str, *, note: str = "",
                   actor: Actor) -> RequestView:
    """Staff record a request the customer made at a branch or by phone (their identity checked there)."""
    require_role(actor, *HANDLER_ROLES)
    if channel not in STAFF_CHANNELS:
        raise InvalidInputError(f"channel must be one of {', '.join(STAFF_CHANNELS)}", details={"fields": {
            "channel": "choice"}})
    if len(note) > MAX_TEXT:
        raise InvalidInputError(f"the note has at most {MAX_TEXT} characters", details={"fields": {"note": "long"}})
    return _create(ctx, customer_id.strip(), kind, channel, note.strip(), actor)


def _create(ctx: EngineContext, customer_id: str, kind: str, channel: str, note: str, actor: Actor) -> RequestView:
    if kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}", details={"fields": {"kind": "choice"}})
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        customer = session.get(Customer, customer_id) if customer_id and len(customer_id) <= 32 else None
        if customer is None:
            raise CustomerNotFoundError(f"no customer {customer_id}")
        if customer.status == erasure.ERASED:
            raise ConflictError("this customer's personal data is already erased", details={"reason": "erased"})
        if session.scalar(select(DataSubjectRequest.id).where(
                DataSubjectRequest.customer_id == customer_id, DataSubjectRequest.kind == kind,
                DataSubjectRequest.status == RequestStatus.RECEIVED.value).limit(1)) is not None:
            raise ConflictError(f"an open {kind} request of this customer is being handled",
                                details={"reason": "open_request"})
        row = DataSubjectRequest(customer_id=customer_id, kind=kind, channel=channel,
                                 status=RequestStatus.RECEIVED.value, received_at=now, due_at=due_at(ctx, now),
                                 recorded_by=actor.username, note=note)
        session.add(row)
        session.flush()
        audit.append(session, stream=f"customer:{customer_id}", actor=actor.username, action="dsr.received",
                     subject_type="data_subject_request", subject_id=str(row.id), at=now,
                     after={"kind": kind, "channel": channel, "due_at": row.due_at.isoformat()})
        return _view(row, customer, now)


def _view(row: DataSubjectRequest, customer: Customer, now: datetime) -> RequestView:
    name = customer.name if customer.status == erasure.ERASED else mask_name(customer.name)
    return RequestView(
        id=row.id, customer_id=row.customer_id, customer_name=name or "", kind=row.kind, channel=row.channel,
        status=row.status, received_at=row.received_at, due_at=row.due_at,
        overdue=row.status == RequestStatus.RECEIVED.value and row.due_at < now, recorded_by=row.recorded_by,
        note=row.note, handled_by=row.handled_by, answered_at=row.answered_at, answer=row.answer,
        refusal_reason=row.refusal_reason, hold_until=row.hold_until)


def list_requests(ctx: EngineContext, *, actor: Actor, open_only: bool = True, limit: int = 200) -> list[RequestView]:
    """Staff's list: open requests by deadline (the most urgent first), or all, newest first."""
    require_role(actor, *HANDLER_ROLES)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        stmt = select(DataSubjectRequest, Customer).join(Customer, Customer.id == DataSubjectRequest.customer_id)
        stmt = (stmt.where(DataSubjectRequest.status == RequestStatus.RECEIVED.value)
                .order_by(DataSubjectRequest.due_at, DataSubjectRequest.id) if open_only
                else stmt.order_by(DataSubjectRequest.received_at.desc(), DataSubjectRequest.id.desc()))
        return [_view(r, c, now) for r, c in session.execute(stmt.limit(limit))]


def customer_requests(ctx: EngineContext, *, actor: Actor) -> list[RequestView]:
    """A portal customer's own requests, newest first."""
    customer_id = actor.username.partition(":")[2]
    if not is_customer(actor, customer_id):
        raise NotFoundError("no such customer")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFoundError("no such customer")
        rows = session.scalars(select(DataSubjectRequest).where(DataSubjectRequest.customer_id == customer_id)
                               .order_by(DataSubjectRequest.received_at.desc(), DataSubjectRequest.id.desc()))
        return [_view(r, customer, now) for r in rows]


def _load(session: Session, request_id: int, actor: Actor, *, lock: bool = False) -> tuple[DataSubjectRequest,
                                                                                             Customer]:
    """The request if ``actor`` may see it: its own customer, or a handler. Anything else is "not found" (a customer
    learns nothing about others' requests); a staff member without the role gets PermissionDeniedError."""
    row = session.get(DataSubjectRequest, request_id, with_for_update=lock) if 0 < request_id < 2**62 else None
    if actor.roles == frozenset({"customer"}):
        if row is None or not is_customer(actor, row.customer_id):
            raise NotFoundError(f"no request {request_id}")
    else:
        require_role(actor, *HANDLER_ROLES)
        if row is None:
            raise NotFoundError(f"no request {request_id}")
    customer = session.get(Customer, row.customer_id)
    assert customer is not None
    return row, customer


def get_request(ctx: EngineContext, request_id: int, *, actor: Actor) -> RequestView:
    with unit_of_work(ctx.sessions, write=False) as session:
        row, customer = _load(session, request_id, actor)
        return _view(row, customer, ctx.clock.now())


def _open(row: DataSubjectRequest, kind: str | None = None) -> None:
    if row.status != RequestStatus.RECEIVED.value:
        raise ConflictError(f"request {row.id} is already {row.status}", details={"reason": row.status})
    if kind is not None and row.kind != kind:
        raise ConflictError(f"request {row.id} is a {row.kind} request", details={"reason": "kind"})


def _text(answer: str) -> str:
    if len(answer) > MAX_TEXT:
        raise InvalidInputError(f"the answer has at most {MAX_TEXT} characters", details={"fields": {"answer": "long"}})
    return answer.strip()


def answer_access(ctx: EngineContext, request_id: int, *, answer: str = "", actor: Actor) -> RequestView:
    """Answer an access request: the export of what CareFlow holds becomes downloadable (made when downloaded)."""
    require_role(actor, *HANDLER_ROLES)
    text, now = _text(answer), ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row, customer = _load(session, request_id, actor, lock=True)
        _open(row, RequestKind.ACCESS.value)
        sections = {name: len(items) for name, items in build_export(ctx, session, customer).items()
                    if isinstance(items, list)}
        row.status, row.handled_by, row.answered_at, row.answer = RequestStatus.ANSWERED.value, actor.username, now, text
        audit.append(session, stream=f"customer:{row.customer_id}", actor=actor.username, action="dsr.answered",
                     subject_type="data_subject_request", subject_id=str(row.id), at=now,
                     after={"kind": row.kind, "export": sections, "late": row.due_at < now})
        return _view(row, customer, now)


def decide_deletion(ctx: EngineContext, request_id: int, *, answer: str = "", actor: Actor) -> RequestView:
    """Erase the customer's personal data, or refuse with the hold that keeps it (and the day it ends, when known).

    A refusal because of a retention period also restricts processing as PIPL Art. 47 asks: the marketing consents
    are withdrawn and do-not-disturb is set (storage only until the hold ends; the retention run erases the customer
    once the AML years are over, engine.dsr.erasure.anonymise_expired)."""
    require_role(actor, *HANDLER_ROLES)
    text, now = _text(answer), ctx.clock.now()
    today = now.astimezone(ctx.settings.zone).date()
    with unit_of_work(ctx.sessions) as session:
        row, customer = _load(session, request_id, actor, lock=True)
        _open(row, RequestKind.DELETION.value)
        found = erasure.holds(ctx, session, customer, today)
        row.handled_by, row.answered_at, row.answer = actor.username, now, text
        files: set[str] = set()
        if found:
            why = erasure.describe(found)
            row.status, row.refusal_reason, row.hold_until = RequestStatus.REFUSED.value, why["reason"], why["until"]
            restricted = _restrict(session, customer, now)
            audit.append(session, stream=f"customer:{row.customer_id}", actor=actor.username, action="dsr.refused",
                         subject_type="data_subject_request", subject_id=str(row.id), at=now,
                         after={"kind": row.kind, "reason": why["reason"], "holds": why["all"],
                                "hold_until": why["until"].isoformat() if why["until"] else None,
                                "restricted": restricted, "late": row.due_at < now})
        else:
            counts, files = erasure.erase(ctx, session, row.customer_id, now=now, actor=actor.username,
                                          basis=f"request:{row.id}", except_request=row.id)
            row.status = RequestStatus.ANSWERED.value
            audit.append(session, stream=f"customer:{row.customer_id}", actor=actor.username, action="dsr.answered",
                         subject_type="data_subject_request", subject_id=str(row.id), at=now,
                         after={"kind": row.kind, "erased": True, "late": row.due_at < now})
        view = _view(row, customer, now)
    retention.delete_unreferenced(ctx, files)
    return view


def _restrict(session: Session, customer: Customer, now: datetime) -> dict[str, Any]:
    """Storage only: marketing consents withdrawn on every channel, do-not-disturb on."""
    marketing = session.get(Consent, (customer.id, "all", "marketing"))
    if marketing is None:
        session.add(Consent(customer_id=customer.id, channel="all", purpose="marketing", granted=False,
                            source="deletion_request", updated_at=now))
    withdrawn = 0
    for consent in session.scalars(select(Consent).where(Consent.customer_id == customer.id,
                                                         Consent.purpose == "marketing", Consent.granted)):
        consent.granted, consent.source, consent.updated_at = False, "deletion_request", now
        withdrawn += 1
    customer.do_not_disturb = True
    return {"marketing_consents_withdrawn": withdrawn, "do_not_disturb": True}


def refuse(ctx: EngineContext, request_id: int, reason: str, *, answer: str, actor: Actor) -> RequestView:
    """Refuse a request for a reason staff establish (the customer's identity could not be verified …)."""
    require_role(actor, *HANDLER_ROLES)
    if reason not in MANUAL_REFUSALS:
        raise InvalidInputError(f"reason must be one of {', '.join(MANUAL_REFUSALS)}",
                                details={"fields": {"reason": "choice"}})
    text, now = _text(answer), ctx.clock.now()
    if not text:
        raise InvalidInputError("a refusal tells the customer why (the answer)", details={"fields": {"answer": "empty"}})
    with unit_of_work(ctx.sessions) as session:
        row, customer = _load(session, request_id, actor, lock=True)
        _open(row)
        row.status, row.refusal_reason = RequestStatus.REFUSED.value, reason
        row.handled_by, row.answered_at, row.answer = actor.username, now, text
        audit.append(session, stream=f"customer:{row.customer_id}", actor=actor.username, action="dsr.refused",
                     subject_type="data_subject_request", subject_id=str(row.id), at=now,
                     after={"kind": row.kind, "reason": reason, "late": row.due_at < now})
        return _view(row, customer, now)


def download_export(ctx: EngineContext, request_id: int, *, fmt: str, actor: Actor) -> dict[str, Any]:
    """The export of an answered access request, for its customer or a handler; the download is audited."""
    if fmt not in ("json", "xlsx"):
        raise InvalidInputError("format must be json or xlsx")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        row, customer = _load(session, request_id, actor)
        if row.kind != RequestKind.ACCESS.value or row.status != RequestStatus.ANSWERED.value:
            raise ConflictError(f"request {row.id} has no export (an answered access request has)",
                                details={"reason": "no_export"})
        data = build_export(ctx, session, customer)
        data["request"] = {"id": row.id, "received_at": row.received_at.isoformat(),
                           "answered_at": row.answered_at.isoformat() if row.answered_at else None,
                           "exported_at": now.isoformat()}
        audit.append(session, stream=f"customer:{row.customer_id}", actor=actor.username,
                     action="dsr.export_downloaded", subject_type="data_subject_request", subject_id=str(row.id),
                     at=now, after={"format": fmt})
        return data


def build_export(ctx: EngineContext, session: Session, customer: Customer) -> dict[str, Any]:
    from engine.dsr.export import collect

    return collect(ctx, session, customer)
