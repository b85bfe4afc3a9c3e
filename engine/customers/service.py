"""Customers as care needs them: profile, birthday, contact data (encrypted), consents, do-not-disturb.

Every change is one transaction with an audit event on the customer's stream; the audit records
*what* changed, never the contact data itself. Consent and do-not-disturb changes take effect for
every message not yet handed to a channel (the dispatcher reads them at send time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.context import EngineContext
from engine.customers.models import Consent, Customer, CustomerStatus
from engine.customers.views import CustomerSummary
from engine.db.models import HumanTask
from engine.db.session import unit_of_work
from engine.errors import CustomerNotFoundError, InvalidInputError, PermissionDeniedError
from engine.privacy import customer_field, mask_name, mask_phone
from engine.rules.care_dates import LunarBirthday, age_on
from engine.runtime import lifecycle
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role
from engine.views import Actor

CHANNELS = ("sms", "email", "wechat", "inapp")
TIERS = ("mass", "gold", "platinum", "diamond", "private")


@dataclass(frozen=True)
class CustomerInput:
    id: str
    name: str
    gender: str | None = None
    birth_date: date | None = None
    lunar_birthday: bool = False  # celebrate on the lunar date of birth_date
    tier: str = "mass"
    branch: str | None = None
    manager: str | None = None
    phone: str | None = None
    email: str | None = None
    id_number: str | None = None
    wechat_openid: str | None = None
    language: str = "zh-CN"
    preferred_channel: str = "sms"
    next_revisit_on: date | None = None


def _check(data: CustomerInput) -> None:
    problems = []
    if not data.id or len(data.id) > 32:
        problems.append("id must be 1-32 characters")
    if not data.name:
        problems.append("name is required")
    if data.tier not in TIERS:
        problems.append(f"tier must be one of {', '.join(TIERS)}")
    if data.preferred_channel not in CHANNELS:
        problems.append(f"preferred_channel must be one of {', '.join(CHANNELS)}")
    if data.gender not in (None, "F", "M"):
        problems.append("gender must be F or M")
    if data.lunar_birthday and data.birth_date is None:
        problems.append("a lunar birthday needs the date of birth")
    if problems:
        raise InvalidInputError("; ".join(problems))


def customer_row(ctx: EngineContext, data: CustomerInput) -> Customer:
    """A new customer row with encrypted contact data and the birthday index columns filled."""
    _check(data)
    now = ctx.clock.now()
    lunar = LunarBirthday.from_solar(data.birth_date) if data.lunar_birthday and data.birth_date else None
    return Customer(
        id=data.id, name=data.name, gender=data.gender, birth_date=data.birth_date,
        birthday_calendar="lunar" if lunar else "solar",
        birthday_md=data.birth_date.strftime("%m-%d") if data.birth_date else None,
        lunar_month=lunar.month if lunar else None, lunar_day=lunar.day if lunar else None,
        lunar_leap=bool(lunar and lunar.leap), tier=data.tier, branch=data.branch, manager=data.manager,
        phone_enc=ctx.cipher.encrypt(data.phone, customer_field("phone", data.id)),
        phone_index=ctx.cipher.index(data.phone),
        email_enc=ctx.cipher.encrypt(data.email, customer_field("email", data.id)),
        id_number_enc=ctx.cipher.encrypt(data.id_number, customer_field("id_number", data.id)),
        id_number_index=ctx.cipher.index(data.id_number),
        wechat_openid=data.wechat_openid, language=data.language, preferred_channel=data.preferred_channel,
        do_not_disturb=False, status=CustomerStatus.ACTIVE.value, next_revisit_on=data.next_revisit_on,
        created_at=now, updated_at=now,
    )


def create_customer(ctx: EngineContext, data: CustomerInput, *, actor: Actor) -> str:
    """Add a customer. Raises InvalidInputError (bad fields or the id is taken), PermissionDeniedError."""
    require_any_role(actor)
    row = customer_row(ctx, data)
    with unit_of_work(ctx.sessions) as session:
        if session.get(Customer, data.id) is not None:
            raise InvalidInputError(f"customer {data.id} already exists")
        session.add(row)
        audit.append(session, stream=f"customer:{data.id}", actor=actor.username, action="customer.created",
                     subject_type="customer", subject_id=data.id, at=row.created_at,
                     after={"tier": data.tier, "lunar_birthday": data.lunar_birthday})
    return data.id


def set_consent(ctx: EngineContext, customer_id: str, *, channel: str, purpose: str, granted: bool, source: str,
                actor: Actor) -> None:
    """Record the customer's consent or refusal for a channel ("all" for every channel) and purpose."""
    require_any_role(actor)
    if channel not in (*CHANNELS, "all") or purpose not in ("service", "marketing"):
        raise InvalidInputError("channel must be sms, email, wechat, inapp or all; purpose service or marketing")
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        _require(session, customer_id)
        row = session.get(Consent, (customer_id, channel, purpose))
        before = None if row is None else {"granted": row.granted}
        if row is None:
            row = Consent(customer_id=customer_id, channel=channel, purpose=purpose, granted=granted, source=source,
                          updated_at=now)
            session.add(row)
        row.granted, row.source, row.updated_at = granted, source, now
        audit.append(session, stream=f"customer:{customer_id}", actor=actor.username, action="consent.changed",
                     subject_type="customer", subject_id=customer_id, at=now, before=before,
                     after={"channel": channel, "purpose": purpose, "granted": granted, "source": source})


def set_do_not_disturb(ctx: EngineContext, customer_id: str, on: bool, *, actor: Actor, reason: str = "") -> None:
    require_any_role(actor)
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        customer = _require(session, customer_id)
        before = customer.do_not_disturb
        customer.do_not_disturb, customer.updated_at = on, now
        audit.append(session, stream=f"customer:{customer_id}", actor=actor.username, action="customer.dnd",
                     subject_type="customer", subject_id=customer_id, at=now, before={"on": before},
                     after={"on": on, "reason": reason})


def _require(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer {customer_id}")
    return customer


@dataclass(frozen=True)
class CustomerAccess:
    purpose: str  # portfolio | branch | all | task:<id>
    full_name: bool
    may_reveal: bool


def customer_access(ctx: EngineContext, session: Session, actor: Actor, customer: Customer) -> CustomerAccess:
    """Why ``actor`` may open this customer: their ``read`` grant covers it (full name), or they work an open task
    for the customer (masked name, purpose ``task:<id>``). Raises PermissionDeniedError."""
    scope = authz.customer_scope(ctx, actor)
    purpose = scope.purpose(customer.branch, customer.manager)
    if purpose is not None:
        may_reveal = authz.customer_scope(ctx, actor, "reveal").covers(customer.branch, customer.manager)
        return CustomerAccess(purpose, True, may_reveal)
    task_id = _working_on(session, actor, customer.id)
    if task_id is None:
        raise PermissionDeniedError(f"{actor.username} may not read customer {customer.id}",
                                    details={"permission": "read", "resource": "customer"})
    return CustomerAccess(f"task:{task_id}", False, False)


def _working_on(session: Session, actor: Actor, customer_id: str) -> str | None:
    """An open task for the customer that ``actor`` holds or may claim."""
    for task in session.scalars(select(HumanTask).where(HumanTask.customer_id == customer_id,
                                                        HumanTask.status.in_(OPEN_STATES)).limit(50)):
        if task.assignee == actor.username or lifecycle.is_candidate(actor, task):
            return str(task.id)
    return None


def sees_full_name(ctx: EngineContext, actor: Actor, customer: Customer) -> bool:
    """Whose customer-read grant covers the customer (their manager, their branch, supervisors) see the full name;
    others a masked one."""
    return authz.customer_scope(ctx, actor).covers(customer.branch, customer.manager)


def customer_summary(ctx: EngineContext, customer_id: str, *, actor: Actor) -> CustomerSummary | None:
    """The summary of a customer for a task page, masked for ``actor``, or None if the id is unknown.

    The name is full for the customer's manager and supervisors (:func:`sees_full_name`), masked for
    other staff; the phone is masked for everyone here (the 360 view reveals it, audited).
    """
    require_any_role(actor)
    today = ctx.clock.now().astimezone(ctx.settings.zone).date()
    with unit_of_work(ctx.sessions, write=False) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            return None
        marketing = session.scalar(select(Consent.granted).where(
            Consent.customer_id == customer_id, Consent.channel == "all", Consent.purpose == "marketing"))
        return CustomerSummary(
            id=customer.id, name=(customer.name or "") if sees_full_name(ctx, actor, customer) else mask_name(customer.name),
            tier=customer.tier, manager=customer.manager,
            branch=customer.branch, phone=mask_phone(ctx.cipher.decrypt(customer.phone_enc,
                                                                        customer_field("phone", customer.id))),
            age=age_on(customer.birth_date, today) if customer.birth_date else None,
            do_not_disturb=customer.do_not_disturb, marketing_consent=bool(marketing), status=customer.status,
        )
