"""Service-task handlers of the onboarding and revisit processes, registered on every engine context.

``customer_onboarding`` (docs/architecture.md §4) and ``periodic_revisit`` call:

- ``careflow.customer.duplicate_check`` (name, id_number): checks the PRC ID number, derives the
  birth date and sex, and looks the number up by its keyed hash (``ctx.cipher.index``). Read-only.
- ``careflow.customer.create`` (the identify and KYC fields): the customer row (ID number and phone
  encrypted), the marketing consents as ticked (opt-in, docs/domain.md §3.5), the instance linked to it.
- ``careflow.customer.risk_assess`` (customer_id, answers): C1–C5 from the questionnaire, valid 12
  months (docs/domain.md §2.3): a ``risk_assessment`` row and the customer's ``risk_level``/``risk_valid_until``.
- ``careflow.customer.set_tier`` (customer_id, tier, aum): the tier the ``customer_tier`` DMN gave.
- ``careflow.customer.assign_manager`` (customer_id, aum): the least-loaded present member of the
  group for the customer's AUM band (docs/domain.md §4.3), falling back to lower bands.
- ``careflow.revisit.schedule_next`` (customer_id, months, channel): the next revisit due date
  after the outcome (the ``revisit_frequency`` DMN gives the months).

Handlers only read (in their own read-only session); every write is a :class:`StepEffect` on
``call.effects`` that the runtime applies in the step's own transaction, so a failed or retried
step leaves nothing half-done. A write re-checks what the handler read when it matters (the
duplicate ID number), because another onboarding may have committed in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import audit
from engine.bpmn.workflow import ServiceCall
from engine.context import EngineContext
from engine.customers.accounts_models import RiskAssessment
from engine.customers.models import Consent, Customer, CustomerStatus
from engine.customers.service import CHANNELS, CustomerInput, customer_row
from engine.customers.tier_rules import TIER_ORDER, manager_groups_for, next_revisit_on, revisit_frequency
from engine.customers.tiering import record_tier_change
from engine.db.models import Group, GroupMembership, HumanTask, HumanTaskStatus, ProcessInstance, User
from engine.errors import ConflictError, CustomerNotFoundError, InvalidInputError
from engine.onboarding import questionnaire
from engine.onboarding.idcard import InvalidIdNumberError, parse_id_number
from engine.privacy import customer_field

ONBOARDING_PROCESS = "customer_onboarding"


# Stable handler ids: what customer_onboarding.bpmn, periodic_revisit.bpmn and every stored definition name
# (serviceTaskOperator id="…"). They are literals, never derived from a module or function name, so code can move
# without breaking a deployed process.
DUPLICATE_CHECK = "careflow.customer.duplicate_check"
CREATE = "careflow.customer.create"
RISK_ASSESS = "careflow.customer.risk_assess"
SET_TIER = "careflow.customer.set_tier"
ASSIGN_MANAGER = "careflow.customer.assign_manager"
SCHEDULE_NEXT = "careflow.revisit.schedule_next"
HANDLER_IDS = (DUPLICATE_CHECK, CREATE, RISK_ASSESS, SET_TIER, ASSIGN_MANAGER, SCHEDULE_NEXT)


def register(ctx: EngineContext) -> None:
    """Add this package's handlers to ``ctx`` (called by build_engine)."""
    onboarding, revisit = (ONBOARDING_PROCESS,), ("periodic_revisit",)
    ctx.register_handler(DUPLICATE_CHECK, lambda p, c: duplicate_check(ctx, p, c), processes=onboarding)
    ctx.register_handler(CREATE, lambda p, c: create_customer(ctx, p, c), processes=onboarding)
    ctx.register_handler(RISK_ASSESS, lambda p, c: risk_assess(ctx, p, c), processes=onboarding + revisit)
    ctx.register_handler(SET_TIER, lambda p, c: set_tier(ctx, p, c), processes=onboarding)
    ctx.register_handler(ASSIGN_MANAGER, lambda p, c: assign_manager(ctx, p, c), processes=onboarding)
    ctx.register_handler(SCHEDULE_NEXT, lambda p, c: schedule_next(ctx, p, c), processes=revisit)


def _local_day(ctx: EngineContext, now: datetime) -> date:
    return now.astimezone(ctx.settings.zone).date()


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or str(value).strip() == "":
        raise InvalidInputError(f"parameter {name} is required")
    return str(value).strip()


def _amount(params: Mapping[str, Any], name: str) -> Decimal:
    try:
        return Decimal(str(params.get(name) or 0)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise InvalidInputError(f"parameter {name} must be an amount") from None


def _step_actor(session: Session, instance_id: uuid.UUID | None) -> str:
    """Who completed the task that ran this step (the completion row is flushed before effects apply)."""
    if instance_id is None:
        return "system"
    return session.scalar(select(HumanTask.completed_by).where(
        HumanTask.instance_id == instance_id, HumanTask.status == HumanTaskStatus.COMPLETED.value)
        .order_by(HumanTask.completed_at.desc()).limit(1)) or "system"


def _customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise CustomerNotFoundError(f"no customer {customer_id}")
    return customer


# --- identify ------------------------------------------------------------------------------------------------------

def duplicate_check(ctx: EngineContext, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    """Validate the ID number and find customers holding it: ``{id_valid, id_problem, duplicate, duplicate_reason,
    birth_date, gender}``. Same number and name → ``same_person``; same number, other name → ``name_mismatch``."""
    name = _text(params, "name")
    try:
        resident = parse_id_number(_text(params, "id_number"), today=_local_day(ctx, call.now))
    except InvalidIdNumberError as exc:
        return {"id_valid": False, "id_problem": str(exc), "duplicate": False, "duplicate_reason": None}
    with ctx.sessions() as session:
        names = [c.name for c in session.scalars(select(Customer).where(
            Customer.id_number_index == ctx.cipher.index(resident.number)))]
    reason = None if not names else "same_person" if name in names else "name_mismatch"
    return {"id_valid": True, "id_problem": None, "duplicate": bool(names), "duplicate_reason": reason,
            "birth_date": resident.birth_date.isoformat(), "gender": resident.gender}


# --- create ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Bound:
    """An effect bound to the context its apply needs (cipher for the row)."""

    ctx: EngineContext
    effect: Any

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        self.effect(self.ctx, session, instance_id, now)
        session.flush()  # the next effect's audit append reads this one's head of the customer's stream


def create_customer(ctx: EngineContext, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    """Build the new customer from ``applicant`` (identify form) and ``kyc`` (KYC form), validated now and
    written with the step; returns ``{customer_id}``."""
    applicant, kyc = params.get("applicant"), params.get("kyc")
    if not isinstance(applicant, Mapping) or not isinstance(kyc, Mapping):
        raise InvalidInputError("parameters applicant and kyc must be the identify and KYC form data")
    if not call.instance_id:
        raise InvalidInputError("a customer is created by an onboarding instance")
    resident = parse_id_number(_text(applicant, "id_number"))
    customer_id = "CF" + uuid.UUID(call.instance_id).hex[:14].upper()
    data = CustomerInput(
        id=customer_id, name=_text(applicant, "name"), gender=resident.gender, birth_date=resident.birth_date,
        branch=str(applicant.get("branch") or "") or None, phone=_text(applicant, "phone"),
        email=str(applicant.get("email") or "") or None, id_number=resident.number,
        language=str(applicant.get("language") or "zh-CN"), preferred_channel=str(kyc.get("preferred_channel") or "sms"))
    row = customer_row(ctx, data)  # checks the fields now: a bad value fails this task, not the commit
    ticked = set(kyc.get("marketing_channels") or [])
    marketing = tuple((c, c in ticked) for c in CHANNELS)
    row.occupation, row.income_band, row.source_of_funds = (
        str(kyc.get(k) or "")[:limit] or None for k, limit in (("occupation", 32), ("income_band", 16),
                                                               ("source_of_funds", 32)))
    row.address_enc = ctx.cipher.encrypt(str(kyc.get("address") or "").strip() or None,
                                         customer_field("address", customer_id))
    recorded = sorted(k for k in ("occupation", "income_band", "source_of_funds", "address") if kyc.get(k))
    since = _local_day(ctx, call.now)

    def write(ctx: EngineContext, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        if session.scalar(select(func.count()).select_from(Customer).where(
                Customer.id_number_index == row.id_number_index)):
            raise ConflictError("a customer with this ID number was created meanwhile; start the review again")
        row.customer_since, row.created_at, row.updated_at = since, now, now
        session.add(row)
        session.flush()  # no ORM relationship orders the consent rows after it; later effects load it too
        session.add_all([Consent(customer_id=customer_id, channel=c, purpose="marketing", granted=granted,
                                 source="onboarding", updated_at=now) for c, granted in marketing])
        instance = session.get(ProcessInstance, instance_id) if instance_id else None
        if instance is not None:
            instance.customer_id = customer_id
        audit.append(session, stream=f"customer:{customer_id}", actor=_step_actor(session, instance_id),
                     action="customer.onboarded", subject_type="customer", subject_id=customer_id, at=now,
                     after={"instance": str(instance_id), "marketing": dict(marketing), "kyc": recorded})

    call.effects.append(_Bound(ctx, write))
    return {"customer_id": customer_id}


# --- risk questionnaire ----------------------------------------------------------------------------------------------

def risk_assess(ctx: EngineContext, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    """Score the answers (``answers``: the questionnaire group) → ``{risk_level, risk_code, risk_score,
    risk_valid_until}``; writes the assessment with the step."""
    customer_id = _text(params, "customer_id")
    answers = params.get("answers")
    if not isinstance(answers, Mapping):
        raise InvalidInputError("parameter answers must be the questionnaire's answers")
    try:
        result = questionnaire.assess(answers, _local_day(ctx, call.now),
                                      ctx.settings.sales.assessment_valid_months)
    except questionnaire.IncompleteQuestionnaireError as exc:
        raise InvalidInputError(str(exc)) from exc

    def write(ctx: EngineContext, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        customer = _customer(session, customer_id)
        actor = _step_actor(session, instance_id)
        before = {"risk_level": customer.risk_level,
                  "valid_until": customer.risk_valid_until.isoformat() if customer.risk_valid_until else None}
        session.add(RiskAssessment(customer_id=customer_id, level=result.level, score=result.score,
                                   questionnaire_version=result.version, assessed_at=now,
                                   valid_until=result.valid_until, assessed_by=actor,
                                   instance_id=str(instance_id) if instance_id else None))
        customer.risk_level, customer.risk_valid_until, customer.updated_at = result.level, result.valid_until, now
        audit.append(session, stream=f"customer:{customer_id}", actor=actor, action="customer.risk_assessed",
                     subject_type="customer", subject_id=customer_id, at=now, before=before,
                     after={"risk_level": result.level, "score": result.score, "version": result.version,
                            "valid_until": result.valid_until.isoformat()})

    call.effects.append(_Bound(ctx, write))
    return {"risk_level": result.level, "risk_code": f"C{result.level}", "risk_score": result.score,
            "risk_valid_until": result.valid_until.isoformat()}


# --- tier and manager ------------------------------------------------------------------------------------------------

def set_tier(ctx: EngineContext, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    """Give the new customer the tier the ``customer_tier`` DMN chose for ``aum`` (tier_history reason onboarding)."""
    customer_id, tier, aum = _text(params, "customer_id"), _text(params, "tier"), _amount(params, "aum")
    if tier not in TIER_ORDER:
        raise InvalidInputError(f"tier {tier!r} is not one of {', '.join(TIER_ORDER)}")

    def write(ctx: EngineContext, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        customer = _customer(session, customer_id)
        customer.aum = aum
        record_tier_change(session, customer, tier, aum, reason="onboarding", actor=_step_actor(session, instance_id),
                           now=now)

    call.effects.append(_Bound(ctx, write))
    return {"tier": tier}


def assign_manager(ctx: EngineContext, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    """Pick the customer manager: ``{manager, manager_name, manager_group}``. Raises InvalidInputError when
    no group of the band or below has anyone present (the instance fails; add staff, then retry)."""
    customer_id, aum = _text(params, "customer_id"), _amount(params, "aum")
    groups = manager_groups_for(aum, ctx.settings.tiering.manager_groups)
    with ctx.sessions() as session:
        for group in groups:
            chosen = _least_loaded(session, group, call.now)
            if chosen is not None:
                break
        else:
            raise InvalidInputError(f"no customer manager present in {', '.join(groups)}")
    username, display_name = chosen

    def write(ctx: EngineContext, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        customer = _customer(session, customer_id)
        before, customer.manager, customer.updated_at = customer.manager, username, now
        audit.append(session, stream=f"customer:{customer_id}", actor=_step_actor(session, instance_id),
                     action="customer.manager_assigned", subject_type="customer", subject_id=customer_id, at=now,
                     before={"manager": before}, after={"manager": username, "group": group})

    call.effects.append(_Bound(ctx, write))
    return {"manager": username, "manager_name": display_name, "manager_group": group}


def _least_loaded(session: Session, group: str, now: datetime) -> tuple[str, str] | None:
    """The active, present member of ``group`` with the fewest active customers (then by name)."""
    load = (select(func.count()).select_from(Customer)
            .where(Customer.manager == User.username, Customer.status == CustomerStatus.ACTIVE.value)
            .correlate(User).scalar_subquery())
    row = session.execute(
        select(User.username, User.display_name).join(GroupMembership, GroupMembership.user_id == User.id)
        .join(Group, Group.id == GroupMembership.group_id)
        .where(Group.name == group, User.active.is_(True), or_(User.absent_until.is_(None), User.absent_until <= now))
        .order_by(load, User.username).limit(1)).first()
    return (str(row[0]), str(row[1] or row[0])) if row else None


# --- revisits --------------------------------------------------------------------------------------------------------

def schedule_next(ctx: EngineContext, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
    """Set the next revisit ``months`` after today (bank-local), as the revisit_frequency DMN said for the tier."""
    customer_id = _text(params, "customer_id")
    try:
        months = int(params.get("months") or 0)
    except (TypeError, ValueError):
        months = 0
    tier = str(params.get("tier") or "mass")
    today = _local_day(ctx, call.now)
    due = next_revisit_on(today, tier) if months <= 0 else today + relativedelta(months=months)
    channel = str(params.get("channel") or revisit_frequency(tier).channel)

    def write(ctx: EngineContext, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None:
        customer = _customer(session, customer_id)
        before, customer.next_revisit_on, customer.updated_at = customer.next_revisit_on, due, now
        audit.append(session, stream=f"customer:{customer_id}", actor=_step_actor(session, instance_id),
                     action="customer.revisit_scheduled", subject_type="customer", subject_id=customer_id, at=now,
                     before={"next_revisit_on": before.isoformat() if before else None},
                     after={"next_revisit_on": due.isoformat(), "channel": channel})

    call.effects.append(_Bound(ctx, write))
    return {"next_revisit_on": due.isoformat(), "channel": channel}

