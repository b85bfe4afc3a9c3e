"""Complaint intake and the complainant's own actions (docs/domain.md §1): submit, read, rate, ask for review, withdraw.

``submit_complaint`` files a case and starts its ``complaint_handling`` instance in one transaction
(the case row records the instance; a retry with the same ``(source, source_ref)`` finds the same case).
A repeat by the same customer about the same business type and cause while a case is open is merged
into it (docs/domain.md §1.4); with new facts the open case's clock restarts from the new material's receipt.
Rating, review requests and withdrawals are BPMN messages to the instance, so the process moves on
and its steps update the case in the same transaction.

Who may do what: staff and supervisors holding the ``read`` grant on ``complaint_handling`` read every case and
file new ones; a customer (``Actor("customer:<id>", {"customer"})``) only their own cases — anyone else's case
is "not found", never "forbidden", so existence does not leak; an intake channel
(``Actor("channel:<name>", {"intake"})``) only submits. Rating, asking for a review and withdrawing are the
customer's own acts: they come through the customer's signed-in channel, or staff record them for the customer
with the evidence the complaint rules ask for (a recorded call, a letter, a counter slip: :class:`OnBehalf`),
and the case shows who recorded it and on what evidence.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import authz
from engine.clock import as_utc
from engine.complaints import codes
from engine.complaints import deadlines as dl
from engine.complaints.models import OPEN_STATUSES, Complaint, ComplaintCounter, ComplaintEvent, ComplaintStatus
from engine.complaints.records import EVENT_LABELS, PROCESS_KEY, load_case, record_event
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.errors import (
    ComplaintNotFoundError,
    InvalidInputError,
    InvalidTransitionError,
    MessageNotCorrelatedError,
    PermissionDeniedError,
)
from engine.inputs import check_text
from engine.privacy import complainant_phone, mask_name, mask_phone, normalise
from engine.services.instances import StartRequest, start_in
from engine.services.messages import deliver_trusted
from engine.views import Actor

MESSAGE_SOURCE = "complaints"
MAX_LIMIT = 200


@dataclass(frozen=True)
class ComplaintInput:
    channel: str  # JR/T 0169 A code (engine.complaints.codes.CHANNELS)
    business_type: str  # B
    cause: str  # C
    summary: str
    facts: str = ""
    request: str = ""
    customer_id: str | None = None
    complainant_name: str = ""
    complainant_phone: str | None = None
    amount: Decimal | None = None
    group_size: int = 1
    source: str = "staff"
    source_ref: str | None = None  # idempotency: the same (source, source_ref) is the same case
    regulator_due_on: date | None = None  # a regulator's transfer notice may set an earlier reply date
    received_at: datetime | None = None  # default ctx.clock.now()
    new_facts: bool = False  # a repeat that brings new facts or reasons restarts the open case's clock
    major_incident: bool = False  # disaster, safety accident or public-health event (docs/domain.md §1.7)
    representatives: int | None = None  # a face-to-face group's elected representatives (docs/domain.md §1.3, Art. 12)


@dataclass(frozen=True)
class ComplaintEventView:
    at: datetime
    kind: str
    label_zh: str
    label_en: str
    actor: str | None  # None in a customer's view (staff names are not theirs to see)
    # Staff recorded the customer's act (a phone call, a letter): {recorded_by, channel, reference, note}; staff only
    recorded_for_customer: dict[str, str] | None = None


@dataclass(frozen=True)
class ComplaintView:
    case_no: str
    status: str
    channel: str
    business_type: str
    cause: str
    summary: str
    customer_id: str | None
    complainant_name: str  # masked
    received_at: datetime
    target_due_on: date
    legal_due_on: date
    extension: str
    answer: str | None
    answered_at: datetime | None
    satisfaction: int | None
    review_requested_at: datetime | None
    review_due_on: date | None
    merged_into: str | None
    instance_id: str | None
    can_rate: bool
    can_request_review: bool
    events: tuple[ComplaintEventView, ...] = ()
    complainant_phone: str = ""  # masked
    facts: str = ""
    request: str = ""
    amount: Decimal | None = None
    group_size: int = 1
    severity: str = "normal"
    decision: str | None = None
    handler: str | None = None  # staff views only
    paused: bool = False
    paused_days: int = 0
    review_apply_by: date | None = None
    satisfaction_comment: str | None = None
    closed_at: datetime | None = None

    @property
    def labels(self) -> dict[str, str]:
        """Bilingual labels of the three classification codes."""
        return {"channel": codes.label("channel", self.channel), "business_type": codes.label("business_type",
                self.business_type), "cause": codes.label("cause", self.cause)}


# ---------------------------------------------------------------------------------------------- who may act


def _customer_of(actor: Actor) -> str | None:
    """The customer id a customer actor acts for; None for staff and channels."""
    if "customer" in actor.roles and not actor.has_role("staff", "supervisor"):
        prefix, _, customer_id = actor.username.partition(":")
        if prefix != "customer" or not customer_id:
            raise PermissionDeniedError("a customer actor must be named customer:<customer id>")
        return customer_id
    return None


def _require_reader(ctx: EngineContext, actor: Actor) -> str | None:
    """Staff and supervisors with the read grant on complaint_handling (→ None) or a customer (→ their id);
    intake channels only submit."""
    if actor.has_role("staff", "supervisor", "compliance"):
        authz.require(ctx, actor, "read", "process", PROCESS_KEY)
        return None
    customer_id = _customer_of(actor)
    if customer_id is None:
        raise PermissionDeniedError(f"{actor.username} may not read complaints")
    return customer_id


def _visible(ctx: EngineContext, session: Session, case_no: str, actor: Actor, *, lock: bool = False) -> Complaint:
    own = _require_reader(ctx, actor)
    case = load_case(session, case_no, lock=lock) if case_no else None
    if case is None or (own is not None and case.customer_id != own):
        raise ComplaintNotFoundError(f"no complaint {case_no}")
    return case


# ---------------------------------------------------------------------------------------------- intake


def submit_complaint(ctx: EngineContext, data: ComplaintInput, *, actor: Actor) -> tuple[ComplaintView, bool]:
    """File a complaint and start its ``complaint_handling`` instance; returns (case, created).

    ``created`` is False when the same ``(source, source_ref)`` was filed before (the first case comes back)
    or when the complaint repeats an open case of the same customer, business type and cause and was
    merged into it (event ``merged``; with ``new_facts`` that case's clock restarts). Raises
    InvalidInputError (unknown code, bad field), PermissionDeniedError (designers; a customer filing for
    someone else), DefinitionNotFoundError (the process is not deployed).
    """
    data = _authorised_input(data, actor)
    for name, value in vars(data).items():
        if isinstance(value, str):
            check_text(value, name)
    most = ctx.settings.complaints.group_face_to_face_max_reps
    if data.representatives is not None and not 1 <= data.representatives <= most:
        raise InvalidInputError(f"a group complaining face to face elects 1 to {most} representatives",
                                details={"field": "representatives"})
    now = ctx.clock.now()
    received_at = as_utc(data.received_at) if data.received_at else now
    if received_at > now + timedelta(minutes=5):
        raise InvalidInputError("received_at is in the future", details={"field": "received_at"})
    for attempt in range(3):
        try:
            case_no, created, restart = _file(ctx, data, actor, received_at, now)
            break
        except IntegrityError:  # a concurrent retry of the same source_ref, or the day's first number, won
            if attempt == 2:
                raise
    if restart is not None:
        _restart_clock(ctx, restart, actor)
    return _load_view(ctx, case_no, customer=not actor.has_role("staff", "supervisor")), created


def _authorised_input(data: ComplaintInput, actor: Actor) -> ComplaintInput:
    if not (actor.has_role("staff", "supervisor") or "intake" in actor.roles or "customer" in actor.roles):
        raise PermissionDeniedError(f"{actor.username} may not file complaints")
    own = _customer_of(actor)
    if own is not None:
        if data.customer_id not in (None, own):
            raise PermissionDeniedError("a customer files complaints for themselves only")
        data = replace(data, customer_id=own)
    _check_input(data)
    return data


def _check_input(data: ComplaintInput) -> None:
    for axis in ("channel", "business_type", "cause"):
        codes.check(axis, getattr(data, axis))
    texts = {"summary": (data.summary, 500), "facts": (data.facts, 4000), "request": (data.request, 4000),
             "complainant_name": (data.complainant_name, 128), "source": (data.source, 32),
             "source_ref": (data.source_ref or "", 128), "customer_id": (data.customer_id or "", 32)}
    for name, (value, limit) in texts.items():
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise InvalidInputError(f"{name} must be text of at most {limit} characters", details={"field": name})
    if not data.summary.strip() or not data.source.strip():
        raise InvalidInputError("a complaint needs a summary and a source", details={"field": "summary"})
    if not isinstance(data.group_size, int) or not 1 <= data.group_size <= 100_000:
        raise InvalidInputError("group_size must be between 1 and 100000", details={"field": "group_size"})
    if data.amount is not None:
        try:
            amount = Decimal(data.amount)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise InvalidInputError("amount must be a number", details={"field": "amount"}) from exc
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e16"):
            raise InvalidInputError("amount must be between 0 and 10^16", details={"field": "amount"})
    if data.complainant_phone is not None and not 5 <= len(normalise(data.complainant_phone)) <= 20:
        raise InvalidInputError("complainant_phone is not a phone number", details={"field": "complainant_phone"})


@dataclass(frozen=True)
class _Restart:
    case_no: str
    repeat_no: str
    received_at: datetime


def _file(ctx: EngineContext, data: ComplaintInput, actor: Actor, received_at: datetime,
          now: datetime) -> tuple[str, bool, _Restart | None]:
    """One transaction: an existing case for this source_ref, a merge into an open case, or a new case."""
    with unit_of_work(ctx.sessions) as session:
        if data.source_ref:
            existing = session.scalars(select(Complaint).where(Complaint.source == data.source,
                                                               Complaint.source_ref == data.source_ref)).first()
            if existing is not None:
                target = existing.merged_into or existing.case_no
                restart = _Restart(target, existing.case_no, existing.received_at) if (
                    existing.merged_into and data.new_facts) else None
                return target, False, restart
        open_case = _open_repeat(session, data)
        case = _new_case(ctx, session, data, actor, received_at, now)
        if open_case is not None:
            case.status = ComplaintStatus.MERGED.value
            case.merged_into = open_case.case_no
            record_event(session, case, "merged", at=now, actor=actor.username, details={"into": open_case.case_no})
            record_event(session, open_case, "merged", at=now, actor=actor.username,
                         details={"repeat": case.case_no, "new_facts": data.new_facts})
            restart = _Restart(open_case.case_no, case.case_no, received_at) if data.new_facts else None
            return open_case.case_no, False, restart
        _start_process(ctx, session, case, data, actor, now)
        return case.case_no, True, None


def _open_repeat(session: Session, data: ComplaintInput) -> Complaint | None:
    """The customer's open case about the same business type and cause (docs/domain.md §1.4 merge rule)."""
    if not data.customer_id:
        return None
    return session.scalars(
        select(Complaint).where(Complaint.customer_id == data.customer_id, Complaint.business_type == data.business_type,
                                Complaint.cause == data.cause, Complaint.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(Complaint.received_at.desc(), Complaint.id.desc()).limit(1).with_for_update()).first()


def _next_case_no(session: Session, day: date) -> str:
    """TS<bank-local day>-<six-digit sequence of that day>; the counter row serialises concurrent intakes."""
    counter = session.get(ComplaintCounter, day, with_for_update=True)
    if counter is None:
        counter = ComplaintCounter(day=day, last=0)
        session.add(counter)
        session.flush()  # a concurrent first intake of the day fails here and the caller retries
    counter.last += 1
    return f"TS{day:%Y%m%d}-{counter.last:06d}"


def _new_case(ctx: EngineContext, session: Session, data: ComplaintInput, actor: Actor, received_at: datetime,
              now: datetime) -> Complaint:
    zone = ctx.settings.zone
    clock = dl.CaseClock(started_on=dl.local_day(received_at, zone), regulator_due_on=data.regulator_due_on)
    due = dl.deadlines(clock, ctx.calendar, ctx.settings)
    phone = normalise(data.complainant_phone) if data.complainant_phone else None
    case_no = _next_case_no(session, dl.local_day(now, zone))
    case = Complaint(
        case_no=case_no, customer_id=data.customer_id, complainant_name=data.complainant_name.strip(),
        complainant_phone_enc=ctx.cipher.encrypt(phone, complainant_phone(case_no)),
        complainant_phone_index=ctx.cipher.index(phone), channel=data.channel, business_type=data.business_type,
        cause=data.cause, summary=data.summary.strip(), facts=data.facts, request=data.request,
        amount=Decimal(data.amount) if data.amount is not None else None, group_size=data.group_size,
        major_incident=data.major_incident or data.group_size >= ctx.settings.complaints.major_group_threshold,
        severity="normal", status=ComplaintStatus.RECEIVED.value, received_at=received_at,
        clock_started_on=clock.started_on, target_due_on=due.target_on, legal_due_on=due.legal_on, warn_on=due.warn_on,
        regulator_due_on=data.regulator_due_on, extension="none", paused_days=0, source=data.source,
        source_ref=data.source_ref, created_at=now, updated_at=now,
    )
    session.add(case)
    session.flush()  # the id for the events; a duplicate source_ref fails here
    record_event(session, case, "received", at=now, actor=actor.username,
                 details={"channel": data.channel, "business_type": data.business_type, "cause": data.cause,
                          "target_on": due.target_on.isoformat(), "legal_on": due.legal_on.isoformat(),
                          "source": data.source})
    return case


def _start_process(ctx: EngineContext, session: Session, case: Complaint, data: ComplaintInput, actor: Actor,
                   now: datetime) -> None:
    """Start complaint_handling in this transaction (business key = case number); the case records it."""
    clock, _ = dl.clock_from_data({"started_on": case.clock_started_on.isoformat(),
                                   "regulator_due_on": data.regulator_due_on.isoformat() if data.regulator_due_on else None})
    variables: dict[str, Any] = {
        "case_no": case.case_no, "customer_id": case.customer_id, "channel": case.channel,
        "business_type": case.business_type, "cause": case.cause,
        "amount": str(case.amount) if case.amount is not None else None, "group_size": case.group_size,
        "major_incident": case.major_incident, "ack": {},
        "clock": dl.clock_data(clock, dl.deadlines(clock, ctx.calendar, ctx.settings)),
    }
    case.instance_id = uuid.uuid4()  # before the start: the first task's SLA comes from the case
    start_in(ctx, session, PROCESS_KEY, actor, StartRequest(case.case_no, case.customer_id, variables,
                                                            instance_id=case.instance_id))


def _restart_clock(ctx: EngineContext, restart: _Restart, actor: Actor) -> None:
    """New facts: the open case's handling restarts with the clock from the new material (a message)."""
    try:
        deliver_trusted(ctx, name="complaint.new_facts", message_id=f"{restart.repeat_no}:new_facts",
                        actor=actor, correlation={"case_no": restart.case_no}, source=MESSAGE_SOURCE,
                        payload={"case_no": restart.case_no, "received_at": restart.received_at.isoformat(),
                                 "repeat": restart.repeat_no, "by": actor.username})
    except MessageNotCorrelatedError:
        pass  # the case is past its investigation (review, reopen): the merge event records the repeat


@dataclass(frozen=True)
class OnBehalf:
    """Staff recording a customer's act that reached the bank outside the portal, with its evidence."""

    channel: str  # phone (a recorded call) | letter | counter
    reference: str  # the recording's id, the letter's reference, the counter slip's number
    note: str = ""

    def checked(self) -> dict[str, str]:
        if self.channel not in EVIDENCE_CHANNELS:
            raise InvalidInputError(f"the evidence must be one of {', '.join(EVIDENCE_CHANNELS)}",
                                    details={"field": "evidence_channel"})
        _check_text("evidence_reference", self.reference, 200, required=True)
        _check_text("evidence_note", self.note, 1000, required=False)
        return {"channel": self.channel, "reference": self.reference.strip(), "note": self.note.strip()}


EVIDENCE_CHANNELS = ("phone", "letter", "counter")


def _customer_act(ctx: EngineContext, actor: Actor, on_behalf: OnBehalf | None) -> dict[str, Any]:
    """Who the act is by, for the message payload: the customer themself, or staff recording it with evidence.
    Raises PermissionDeniedError (staff without evidence, anyone else), InvalidInputError (bad evidence)."""
    if _customer_of(actor) is not None:
        if on_behalf is not None:
            raise InvalidInputError("a customer acts for themself")
        return {"by": actor.username}
    if not actor.has_role("staff", "supervisor"):
        raise PermissionDeniedError(f"{actor.username} may not act for a complainant")
    authz.require(ctx, actor, "read", "process", PROCESS_KEY)
    if on_behalf is None:
        raise PermissionDeniedError("this is the customer's own act: it comes from the customer's signed-in channel, "
                                    "or staff record it for the customer with the evidence (recorded call, letter, "
                                    "counter slip)", details={"reason": "customer_act"})
    return {"by": actor.username, "recorded_for_customer": {"recorded_by": actor.username, **on_behalf.checked()}}


# ---------------------------------------------------------------------------------------------- reading


def get_complaint(ctx: EngineContext, case_no: str, *, actor: Actor) -> ComplaintView:
    """One case with its events. Raises ComplaintNotFoundError (also for another customer's case),
    PermissionDeniedError (intake channels, designers)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        case = _visible(ctx, session, case_no, actor)
        events = _events(session, [case.id])
        return _view(ctx, case, events.get(case.id, []), customer=_require_reader(ctx, actor) is not None)


def _load_view(ctx: EngineContext, case_no: str, *, customer: bool) -> ComplaintView:
    """The case as filed, for the caller of submit_complaint (an intake channel gets the customer's view)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        case = load_case(session, case_no)
        if case is None:
            raise ComplaintNotFoundError(f"no complaint {case_no}")
        return _view(ctx, case, _events(session, [case.id]).get(case.id, []), customer=customer)


def list_complaints(ctx: EngineContext, *, actor: Actor, customer_id: str | None = None, status: str | None = None,
                    limit: int = 50) -> list[ComplaintView]:
    """Newest first. A customer sees only their own cases (another customer_id gives an empty list).
    Raises InvalidInputError (unknown status, limit), PermissionDeniedError."""
    own = _require_reader(ctx, actor)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    if status is not None and status not in {s.value for s in ComplaintStatus}:
        raise InvalidInputError(f"unknown complaint status {status!r}", details={"field": "status"})
    if own is not None:
        if customer_id not in (None, own):
            return []
        customer_id = own
    stmt = select(Complaint)
    if customer_id is not None:
        stmt = stmt.where(Complaint.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(Complaint.status == status)
    with unit_of_work(ctx.sessions, write=False) as session:
        cases = session.scalars(stmt.order_by(Complaint.received_at.desc(), Complaint.id.desc()).limit(limit)).all()
        events = _events(session, [c.id for c in cases])
        return [_view(ctx, c, events.get(c.id, []), customer=own is not None) for c in cases]


def _events(session: Session, ids: Sequence[int]) -> dict[int, list[ComplaintEvent]]:
    found: dict[int, list[ComplaintEvent]] = {}
    if ids:
        for row in session.scalars(select(ComplaintEvent).where(ComplaintEvent.complaint_id.in_(ids))
                                   .order_by(ComplaintEvent.id)):
            found.setdefault(row.complaint_id, []).append(row)
    return found


def _view(ctx: EngineContext, case: Complaint, events: list[ComplaintEvent], *, customer: bool) -> ComplaintView:
    today = dl.local_day(ctx.clock.now(), ctx.settings.zone)
    answered = case.status == ComplaintStatus.ANSWERED.value
    phone = ctx.cipher.decrypt(case.complainant_phone_enc, complainant_phone(case.case_no))
    return ComplaintView(
        case_no=case.case_no, status=case.status, channel=case.channel, business_type=case.business_type,
        cause=case.cause, summary=case.summary, customer_id=case.customer_id,
        complainant_name=mask_name(case.complainant_name), received_at=case.received_at,
        target_due_on=case.target_due_on, legal_due_on=case.legal_due_on, extension=case.extension,
        answer=case.answer, answered_at=case.answered_at, satisfaction=case.satisfaction,
        review_requested_at=case.review_requested_at, review_due_on=case.review_due_on, merged_into=case.merged_into,
        instance_id=str(case.instance_id) if case.instance_id else None,
        can_rate=answered and case.satisfaction is None,
        can_request_review=answered and case.review_requested_at is None and case.review_apply_by is not None
        and today <= case.review_apply_by,
        events=tuple(ComplaintEventView(e.at, e.kind, *EVENT_LABELS.get(e.kind, (e.kind, e.kind)),
                                        None if customer else e.actor,
                                        None if customer else (e.details or {}).get("recorded_for_customer"))
                     for e in events),
        complainant_phone=mask_phone(phone), facts=case.facts, request=case.request, amount=case.amount,
        group_size=case.group_size, severity=case.severity, decision=case.decision,
        handler=None if customer else case.handler, paused=case.pause_started_at is not None,
        paused_days=case.paused_days, review_apply_by=case.review_apply_by,
        satisfaction_comment=case.satisfaction_comment, closed_at=case.closed_at,
    )


# ---------------------------------------------------------------------------------------------- complainant actions


def rate_complaint(ctx: EngineContext, case_no: str, *, score: int, comment: str = "", actor: Actor,
                   on_behalf: OnBehalf | None = None) -> ComplaintView:
    """The customer's satisfaction with the answer, 1–5; 1 or 2 reopens the case to a supervisor.

    Raises ComplaintNotFoundError, InvalidInputError (score, comment), InvalidTransitionError (not answered,
    already rated), PermissionDeniedError.
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInputError("score must be a whole number from 1 to 5", details={"field": "score"})
    _check_text("comment", comment, 1000, required=False)
    by = _customer_act(ctx, actor, on_behalf)
    case = _checked(ctx, case_no, actor, "rate", lambda v: v.can_rate, "only an answered case can be rated, once")
    _send(ctx, case, "complaint.rated", f"{case_no}:rated:{_round(case)}", {"score": score, "comment": comment, **by})
    return get_complaint(ctx, case_no, actor=actor)


def request_review(ctx: EngineContext, case_no: str, *, reason: str, actor: Actor,
                   on_behalf: OnBehalf | None = None) -> ComplaintView:
    """Ask the superior unit to review (核查) the answer, within 30 days of it (docs/domain.md §1.6).

    Raises ComplaintNotFoundError, InvalidInputError (no reason: the request is written),
    InvalidTransitionError (not answered, window over, already requested), PermissionDeniedError.
    """
    _check_text("reason", reason, 2000, required=True)
    by = _customer_act(ctx, actor, on_behalf)
    case = _checked(ctx, case_no, actor, "request_review", lambda v: v.can_request_review,
                    "a review can be requested once, within the window after the answer")
    _send(ctx, case, "complaint.review_requested", f"{case_no}:review:{_round(case)}", {"reason": reason, **by})
    return get_complaint(ctx, case_no, actor=actor)


def withdraw_complaint(ctx: EngineContext, case_no: str, *, reason: str = "", actor: Actor,
                       on_behalf: OnBehalf | None = None) -> ComplaintView:
    """Withdraw the complaint: handling ends the day the bank receives it (docs/domain.md §1.3, Art. 15).

    Raises ComplaintNotFoundError, InvalidTransitionError (already closed, withdrawn or merged),
    PermissionDeniedError.
    """
    _check_text("reason", reason, 1000, required=False)
    by = _customer_act(ctx, actor, on_behalf)
    case = _checked(ctx, case_no, actor, "withdraw", lambda v: v.instance_id is not None and v.status not in (
        ComplaintStatus.CLOSED, ComplaintStatus.WITHDRAWN, ComplaintStatus.MERGED), "the case is already finished")
    _send(ctx, case, "complaint.withdrawn", f"{case_no}:withdrawn", {"reason": reason, **by})
    return get_complaint(ctx, case_no, actor=actor)


def _check_text(name: str, value: str, limit: int, *, required: bool) -> None:
    if not isinstance(value, str) or len(value) > limit or "\x00" in value or (required and not value.strip()):
        raise InvalidInputError(f"{name} must be {'non-empty ' if required else ''}text of at most {limit} characters",
                                details={"field": name})


def _checked(ctx: EngineContext, case_no: str, actor: Actor, action: str, allowed: Any, why: str) -> ComplaintView:
    view = get_complaint(ctx, case_no, actor=actor)
    if not allowed(view):
        raise InvalidTransitionError(f"cannot {action} complaint {case_no} ({view.status}): {why}",
                                     subject=case_no, state=view.status, action=action)
    return view


def _round(view: ComplaintView) -> str:
    """One rating and one review per answer: answered_at tells the answers of a reopened case apart."""
    return view.answered_at.isoformat() if view.answered_at else "none"


def _send(ctx: EngineContext, view: ComplaintView, name: str, message_id: str, payload: dict[str, Any]) -> None:
    """Deliver the customer's act (already authorised by the caller) to the case's instance."""
    try:
        deliver_trusted(ctx, name=name, message_id=message_id, actor=Actor(str(payload["by"])), source=MESSAGE_SOURCE,
                        correlation={"case_no": view.case_no}, payload={**payload, "case_no": view.case_no})
    except MessageNotCorrelatedError as exc:
        raise InvalidTransitionError(f"complaint {view.case_no} is not waiting for {name}", subject=view.case_no,
                                     state=view.status, action=name) from exc
