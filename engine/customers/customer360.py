"""Customer 360: one customer's profile, money, products, tier and risk, consents and everything that happened.

Who sees what (least privilege, PIPL Art. 51): the ``read`` grant on customers says which ones a person may
list and open — ``portfolio`` (the customers they manage), ``branch:<code>``, or ``*`` (supervisors,
compliance); a person working an open task for a customer may open that customer too, for that task. Lists
mask the name and phone for everyone. On the 360 page the name is full for those whose grant covers the
customer and masked for the others; phone, e-mail and address stay masked until someone with the ``reveal``
grant presses "reveal" and says why. Every opening of a customer and every reveal is audited on the customer's
stream with its purpose; every list read on the reader's stream, without the search text. The ID number is
never shown beyond its last four characters, to anyone. Account numbers are stored as their last four digits
only.

The timeline merges, newest first, the customer's audit stream (``customer:<id>``), the process
instances about the customer, their human tasks, the outbox messages to the customer and complaints.
It is keyset-paginated over (time, kind, key) so pages neither repeat nor skip items.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.clock import as_utc
from engine.context import EngineContext
from engine.customers.accounts_models import CustomerAccount, CustomerHolding, Product, TierChange
from engine.customers.models import Consent, Customer
from engine.customers.service import customer_access
from engine.db.models import AuditEvent, HumanTask, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import CustomerNotFoundError, InvalidInputError, PermissionDeniedError
from engine.outbox.models import OutboxMessage
from engine.privacy import customer_field, mask_address, mask_email, mask_name, mask_phone, normalise
from engine.rules.care_dates import age_on
from engine.services.authz import require_role
from engine.views import Actor

REVEALABLE = ("phone", "email", "address")
MIN_REASON = 2  # a word: 回访 (a revisit), 核实身份 (identity check)
MAX_LIMIT = 100

# (code, name, family, seller R-level, issuer R-level, issuer, private, minimum ¥, cooling-off hours).
# Private WMP: qualified investors, ¥300k minimum for fixed income, ≥ 24 h cooling-off (docs/domain.md §2.6, §2.8);
# long-term insurance: 15-day 犹豫期 (§2.6); FUND-EQ-GROWTH shows 孰高: the issuer rates it higher (§2.2).
PRODUCTS: tuple[tuple[str, str, str, int, int | None, str | None, bool, str | None, int], ...] = (
    ("DEP-CURRENT", "活期储蓄", "deposit", 1, None, None, False, None, 0),
    ("DEP-TD-3Y", "三年期定期存款", "deposit", 1, None, None, False, "50", 0),
    ("SD-NPP-6M", "挂钩黄金非保本结构性存款(6个月)", "structured", 2, 2, None, False, "10000", 0),
    ("WMP-CASH", "天天利现金管理类理财", "wmp", 1, 1, "CareFlow理财有限公司", False, "1", 0),
    ("WMP-FI-1Y", "稳享固收类理财一年期", "wmp", 2, 2, "CareFlow理财有限公司", False, "10000", 0),
    ("WMP-MIX-2Y", "均衡混合类理财两年期", "wmp", 3, 3, "CareFlow理财有限公司", False, "10000", 0),
    ("WMP-PRIV-FI", "尊享私募固收理财", "wmp", 3, 3, "CareFlow理财有限公司", True, "300000", 24),
    ("FUND-BOND", "稳健债券型基金", "fund", 2, 2, "华安基金", False, "1000", 0),
    ("FUND-EQ-GROWTH", "成长精选股票型基金", "fund", 4, 5, "易方达基金", False, "1000", 0),
    ("FUND-QDII-TECH", "全球科技QDII基金", "fund", 5, 5, "嘉实基金", False, "1000", 0),
    ("INS-ANNUITY-10Y", "鑫享十年期年金保险", "insurance", 2, 2, "中国人寿", False, "10000", 15 * 24),
    ("INS-CI-LIFE", "终身重大疾病保险", "insurance", 2, 2, "平安人寿", False, "5000", 15 * 24),
    ("LOAN-MORTGAGE", "个人住房按揭贷款", "loan", 1, None, None, False, None, 0),
)


def seed_products(ctx: EngineContext) -> int:
    """Add the demo/test product catalogue (codes in PRODUCTS); existing codes are left alone. Returns how many added."""
    with unit_of_work(ctx.sessions) as session:
        known = set(session.scalars(select(Product.code)))
        rows = [Product(code=code, name=name, family=family, risk_level=level, issuer_risk_level=issuer_level,
                        issuer=issuer, private=private, min_amount=Decimal(minimum) if minimum else None,
                        cooling_off_hours=hours, active=True)
                for code, name, family, level, issuer_level, issuer, private, minimum, hours in PRODUCTS
                if code not in known]
        session.add_all(rows)
        return len(rows)


# --- views --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountLine:
    kind: str
    last4: str | None
    currency: str
    balance: Decimal
    avg_daily_balance: Decimal
    status: str
    opened_on: date | None


@dataclass(frozen=True)
class HoldingLine:
    product_code: str
    product_name: str
    family: str
    risk_level: int  # the higher of the seller's and the issuer's rating (孰高, docs/domain.md §2.2)
    amount: Decimal
    bought_on: date
    matures_on: date | None
    status: str


@dataclass(frozen=True)
class TierLine:
    tier: str
    previous_tier: str | None
    aum: Decimal
    reason: str
    actor: str
    changed_at: datetime


@dataclass(frozen=True)
class ConsentLine:
    channel: str
    purpose: str
    granted: bool
    source: str
    updated_at: datetime


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # instance | task | message | complaint | audit
    title_zh: str
    title_en: str
    subject_id: str  # what a link opens: instance id, task id, message id, complaint case number, audit event id
    status: str | None = None
    link: str | None = None  # the page that opens it: the web layer knows its routes, the engine leaves it empty
    # The stored codes the title is made of, for a UI that labels them in its own language: (process key,) for an
    # instance, (task title, process key, element id) for a task, (template, channel) for a message,
    # (case no, business type, cause) for a complaint, (audit action,) for an audit event.
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    next_cursor: str | None


@dataclass(frozen=True)
class Customer360:
    id: str
    name: str  # full for the customer's manager and supervisors, masked for other staff
    gender: str | None
    age: int | None
    birthday: str | None  # "MM-DD" (solar) or "农历M月D日"
    birthday_calendar: str
    phone: str  # always masked here; see reveal_contact
    email: str
    id_number: str  # last four characters only
    can_reveal: bool
    tier: str
    branch: str | None
    manager: str | None
    status: str
    language: str
    preferred_channel: str
    do_not_disturb: bool
    customer_since: date | None
    occupation: str | None  # KYC codes of the onboarding_kyc form
    income_band: str | None
    source_of_funds: str | None
    address: str  # masked: the first characters only; see reveal_contact
    aum: Decimal
    risk_level: str | None  # "C1".."C5"
    risk_valid_until: date | None
    risk_expired: bool  # no valid questionnaire: suitability blocks sales (docs/domain.md §2.3)
    accounts: list[AccountLine]
    holdings: list[HoldingLine]
    tier_history: list[TierLine]
    consents: list[ConsentLine]
    timeline: TimelinePage


@dataclass(frozen=True)
class CustomerListItem:
    id: str
    name: str  # masked
    phone: str  # masked
    tier: str
    branch: str | None
    manager: str | None
    aum: Decimal
    risk_level: str | None
    status: str


@dataclass(frozen=True)
class CustomerPage:
    items: list[CustomerListItem]
    next_cursor: str | None


# --- list and search ----------------------------------------------------------------------------------------------


def _search(ctx: EngineContext, q: str) -> ColumnElement[bool]:
    """Exact phone or ID number through the keyed index, else the customer id or a name prefix."""
    text = q.strip()
    compact = normalise(text)
    if len(compact) == 11 and compact.isdigit() and compact.startswith("1"):
        return Customer.phone_index == ctx.cipher.index(compact)
    if len(compact) == 18 and compact[:17].isdigit():
        return Customer.id_number_index == ctx.cipher.index(compact)
    return or_(Customer.id == text, Customer.name_search.like(f"% {ctx.cipher.name_token(text)} %"))


def list_customers(ctx: EngineContext, *, actor: Actor, q: str | None = None, tier: str | None = None,
                   manager: str | None = None, branch: str | None = None, cursor: str | None = None,
                   limit: int = 25) -> CustomerPage:
    """A page of the customers the actor may read, ordered by id (keyset), masked; the read is audited on the
    actor's stream. Raises InvalidInputError, PermissionDeniedError (no customer grant at all)."""
    require_role(actor, "staff", "supervisor", "compliance")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    scope = authz.customer_scope(ctx, actor)
    if scope.none:
        raise PermissionDeniedError(f"{actor.username} may read no customers", details={"permission": "read",
                                                                                      "resource": "customer"})
    stmt = select(Customer)
    if not scope.all:
        stmt = stmt.where(or_(Customer.branch.in_(sorted(scope.branches)), Customer.manager == scope.manager))
    if q and q.strip():
        stmt = stmt.where(_search(ctx, q))
    for column, value in ((Customer.tier, tier), (Customer.manager, manager), (Customer.branch, branch)):
        if value:
            stmt = stmt.where(column == value)
    if cursor:
        stmt = stmt.where(Customer.id > _decode(cursor)[0])
    with unit_of_work(ctx.sessions) as session:
        rows = session.scalars(stmt.order_by(Customer.id).limit(limit + 1)).all()
        items = [CustomerListItem(
            id=r.id, name=mask_name(r.name), phone=mask_phone(ctx.cipher.decrypt(r.phone_enc, customer_field("phone", r.id))),
            tier=r.tier,
            branch=r.branch, manager=r.manager, aum=Decimal(r.aum or 0), risk_level=_risk(r.risk_level), status=r.status,
        ) for r in rows[:limit]]
        audit.append(session, stream=f"user:{actor.username}", actor=actor.username, action="customers.listed",
                     subject_type="user", subject_id=actor.username, at=ctx.clock.now(),
                     after={"search": _search_kind(q), "filters": {"tier": tier, "manager": manager, "branch": branch},
                            "shown": [i.id for i in items]})
    return CustomerPage(items, _encode(rows[limit - 1].id) if len(rows) > limit else None)


def _search_kind(q: str | None) -> str | None:
    """What was searched for, never the text (it may be a phone or an ID number)."""
    if not q or not q.strip():
        return None
    compact = normalise(q.strip())
    if len(compact) == 11 and compact.isdigit():
        return "phone"
    return "id_number" if len(compact) == 18 and compact[:17].isdigit() else "name_or_id"


def _risk(level: int | None) -> str | None:
    return f"C{level}" if level else None


def _encode(*parts: str) -> str:
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInputError("invalid cursor") from exc


# --- the 360 view -------------------------------------------------------------------------------------------------


def customer_360(ctx: EngineContext, customer_id: str, actor: Actor, *, timeline_cursor: str | None = None,
                 timeline_limit: int = 20) -> Customer360:
    """Everything about one customer, masked for ``actor``; the reading is audited on the customer's stream with its
    purpose (``customers.access``). Raises CustomerNotFoundError, PermissionDeniedError."""
    require_role(actor, "staff", "supervisor", "compliance")
    if not 1 <= timeline_limit <= MAX_LIMIT:
        raise InvalidInputError(f"timeline_limit must be between 1 and {MAX_LIMIT}")
    now = ctx.clock.now()
    today = now.astimezone(ctx.settings.zone).date()
    with unit_of_work(ctx.sessions) as session:
        c = session.get(Customer, customer_id)
        if c is None:
            raise CustomerNotFoundError(f"no customer {customer_id}")
        access = customer_access(ctx, session, actor, c)
        audit.append(session, stream=f"customer:{c.id}", actor=actor.username, action="customer.viewed",
                     subject_type="customer", subject_id=c.id, at=now, after={"purpose": access.purpose})
        number = ctx.cipher.decrypt(c.id_number_enc, customer_field("id_number", c.id))
        def opened(column: str) -> str | None:
            return ctx.cipher.decrypt(getattr(c, f"{column}_enc"), customer_field(column, c.id))

        return Customer360(
            id=c.id, name=(c.name or "") if access.full_name else mask_name(c.name), gender=c.gender,
            age=age_on(c.birth_date, today) if c.birth_date else None, birthday=_birthday(c),
            birthday_calendar=c.birthday_calendar, phone=mask_phone(opened("phone")),
            email=mask_email(opened("email")), id_number=("*" * 14 + number[-4:]) if number else "",
            can_reveal=access.may_reveal, tier=c.tier, branch=c.branch, manager=c.manager, status=c.status,
            language=c.language, preferred_channel=c.preferred_channel, do_not_disturb=c.do_not_disturb,
            customer_since=c.customer_since, occupation=c.occupation, income_band=c.income_band,
            source_of_funds=c.source_of_funds, address=mask_address(opened("address")),
            aum=Decimal(c.aum or 0), risk_level=_risk(c.risk_level),
            risk_valid_until=c.risk_valid_until, risk_expired=c.risk_valid_until is None or c.risk_valid_until < today,
            accounts=_accounts(session, c.id), holdings=_holdings(session, c.id), tier_history=_tiers(session, c.id),
            consents=_consents(session, c.id), timeline=timeline(session, c.id, timeline_cursor, timeline_limit),
        )


def _birthday(c: Customer) -> str | None:
    if c.birthday_calendar == "lunar" and c.lunar_month:
        return f"农历{'闰' if c.lunar_leap else ''}{c.lunar_month}月{c.lunar_day}日"
    return c.birthday_md


def _accounts(session: Session, customer_id: str) -> list[AccountLine]:
    rows = session.scalars(select(CustomerAccount).where(CustomerAccount.customer_id == customer_id)
                           .order_by(CustomerAccount.status.desc(), CustomerAccount.kind, CustomerAccount.id))
    return [AccountLine(r.kind, r.number_last4, r.currency, Decimal(r.balance), Decimal(r.avg_daily_balance), r.status,
                        r.opened_on) for r in rows]


def _holdings(session: Session, customer_id: str) -> list[HoldingLine]:
    rows = session.execute(select(CustomerHolding, Product).join(Product, Product.code == CustomerHolding.product_code)
                           .where(CustomerHolding.customer_id == customer_id)
                           .order_by(CustomerHolding.status, CustomerHolding.bought_on.desc(), CustomerHolding.id)).all()
    return [HoldingLine(h.product_code, p.name, p.family, max(p.risk_level, p.issuer_risk_level or 0), Decimal(h.amount),
                        h.bought_on, h.matures_on, h.status) for h, p in rows]


def _tiers(session: Session, customer_id: str) -> list[TierLine]:
    rows = session.scalars(select(TierChange).where(TierChange.customer_id == customer_id)
                           .order_by(TierChange.changed_at.desc(), TierChange.id.desc()))
    return [TierLine(r.tier, r.previous_tier, Decimal(r.aum), r.reason, r.actor, r.changed_at) for r in rows]


def _consents(session: Session, customer_id: str) -> list[ConsentLine]:
    rows = session.scalars(select(Consent).where(Consent.customer_id == customer_id)
                           .order_by(Consent.purpose, Consent.channel))
    return [ConsentLine(r.channel, r.purpose, r.granted, r.source, r.updated_at) for r in rows]


# --- reveal -------------------------------------------------------------------------------------------------------


def reveal_contact(ctx: EngineContext, customer_id: str, field: str, actor: Actor, *, reason: str = "") -> str:
    """The customer's full phone, e-mail or address, for someone whose ``reveal`` grant covers the customer and who
    says why; audited with the reason (never the value).

    Raises InvalidInputError (no reason; the ID number and unknown fields are never revealed),
    CustomerNotFoundError, PermissionDeniedError.
    """
    require_role(actor, "staff", "supervisor", "compliance")
    if field not in REVEALABLE:
        raise InvalidInputError(f"only {', '.join(REVEALABLE)} can be revealed")
    reason = (reason or "").strip()
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise CustomerNotFoundError(f"no customer {customer_id}")
        if not customer_access(ctx, session, actor, customer).may_reveal:
            raise PermissionDeniedError("only someone whose grant covers this customer may reveal contact data",
                                        details={"permission": "reveal", "resource": "customer"})
        if len(reason) < MIN_REASON or len(reason) > 200:
            raise InvalidInputError(f"say why you need it ({MIN_REASON} to 200 characters): the reason is recorded",
                                    details={"field": "reason"})
        value = ctx.cipher.decrypt({"phone": customer.phone_enc, "email": customer.email_enc,
                                    "address": customer.address_enc}[field], customer_field(field, customer_id)) or ""
        audit.append(session, stream=f"customer:{customer_id}", actor=actor.username, action="customer.contact_revealed",
                     subject_type="customer", subject_id=customer_id, at=now,
                     after={"field": field, "reason": reason})
    return value


# --- timeline -----------------------------------------------------------------------------------------------------

AUDIT_TITLES = {
    "customer.created": ("建档", "Customer created"),
    "customer.updated": ("资料更新", "Profile updated"),
    "consent.changed": ("授权变更", "Consent changed"),
    "customer.dnd": ("免打扰设置", "Do-not-disturb changed"),
    "customer.contact_revealed": ("查看联系方式", "Contact data revealed"),
    "customer.tier_changed": ("等级变更", "Tier changed"),
}
# Reads of the record are audited on the customer's stream too, but they are access records, not the customer's
# history: the timeline leaves them out (the audit export shows them).
ACCESS_ACTIONS = ("customer.viewed",)
# One source per kind: (kind, query builder). Kinds sort alphabetically within the same instant.
Source = Callable[[Session, str, "tuple[datetime, str, str] | None", int], list[TimelineItem]]


def page_after(at_col: Any, key_col: Any, kind: str, after: tuple[datetime, str, str] | None,
           key: Callable[[str], Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor in (time, kind, key) descending order, for a source of one kind."""
    if after is None:
        return true()
    at, after_kind, after_key = after
    if kind < after_kind:
        return at_col <= at
    if kind > after_kind:
        return at_col < at
    return or_(at_col < at, and_(at_col == at, key_col < key(after_key)))


def _audit_items(session: Session, cid: str, after: tuple[datetime, str, str] | None, n: int) -> list[TimelineItem]:
    rows = session.scalars(select(AuditEvent).where(
        AuditEvent.stream == f"customer:{cid}", AuditEvent.action.not_in(ACCESS_ACTIONS),
        page_after(AuditEvent.at, AuditEvent.id, "audit", after, int))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(n))
    items = []
    for r in rows:
        zh, en = AUDIT_TITLES.get(r.action, (r.action, r.action))
        detail = ", ".join((r.after or {}).get("fields", [])) or (r.after or {}).get("field", "")
        suffix = f" ({detail})" if detail else ""
        items.append(TimelineItem(r.at, "audit", f"{zh}{suffix}", f"{en}{suffix} · {r.actor}", str(r.id),
                                  parts=(r.action,)))
    return items


def _instance_items(session: Session, cid: str, after: tuple[datetime, str, str] | None, n: int) -> list[TimelineItem]:
    rows = session.scalars(select(ProcessInstance).where(
        ProcessInstance.customer_id == cid,
        page_after(ProcessInstance.started_at, ProcessInstance.id, "instance", after, uuid.UUID))
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(n))
    return [TimelineItem(r.started_at, "instance", f"流程 {r.process_key}", f"Process {r.process_key}", str(r.id), r.status,
                         parts=(r.process_key,))
            for r in rows]


def _task_items(session: Session, cid: str, after: tuple[datetime, str, str] | None, n: int) -> list[TimelineItem]:
    rows = session.scalars(select(HumanTask).where(
        HumanTask.customer_id == cid, page_after(HumanTask.created_at, HumanTask.id, "task", after, uuid.UUID))
        .order_by(HumanTask.created_at.desc(), HumanTask.id.desc()).limit(n))
    return [TimelineItem(r.created_at, "task", f"任务 {r.title}", f"Task {r.title}", str(r.id), r.status,
                         parts=(r.title, r.process_key, r.task_name)) for r in rows]


def _message_items(session: Session, cid: str, after: tuple[datetime, str, str] | None, n: int) -> list[TimelineItem]:
    rows = session.scalars(select(OutboxMessage).where(
        OutboxMessage.customer_id == cid,
        page_after(OutboxMessage.created_at, OutboxMessage.id, "message", after, int))
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()).limit(n))
    return [TimelineItem(r.created_at, "message", f"消息 {r.template}（{r.channel}）", f"Message {r.template} ({r.channel})",
                         str(r.id), r.status, parts=(r.template, r.channel)) for r in rows]


INTEGER_KEYS = frozenset({"audit", "message"})


def _order(item: TimelineItem) -> tuple[datetime, str, str]:
    """The SQL order of each source: integer ids compare as numbers, UUIDs as their text."""
    return item.at, item.kind, item.subject_id.zfill(20) if item.kind in INTEGER_KEYS else item.subject_id


# The engine's own sources; a feature adds its own with ``add_timeline_source`` from its ``register(ctx)`` (the
# complaints feature adds its cases: engine.complaints.timeline), so this module needs no feature above it.
SOURCES: list[Source] = [_audit_items, _instance_items, _task_items, _message_items]


def add_timeline_source(source: Source) -> None:
    """Add a feature's source of timeline items (once; the order of sources does not matter, items are sorted)."""
    if source not in SOURCES:
        SOURCES.append(source)


def timeline(session: Session, customer_id: str, cursor: str | None, limit: int) -> TimelinePage:
    """One page of the customer's timeline, newest first; ``next_cursor`` continues after its last item."""
    after = None
    if cursor:
        parts = _decode(cursor)
        try:
            moment = datetime.fromisoformat(parts[0])
            if moment.tzinfo is None or len(parts) != 3:
                raise ValueError("bad cursor")
        except ValueError as exc:
            raise InvalidInputError("invalid cursor") from exc
        after = (as_utc(moment), parts[1], parts[2])
    try:
        items = [item for source in SOURCES for item in source(session, customer_id, after, limit + 1)]
    except ValueError as exc:  # a cursor key that is not an id of its kind
        raise InvalidInputError("invalid cursor") from exc
    items.sort(key=_order, reverse=True)
    page = items[:limit]
    last = page[-1] if page else None
    more = len(items) > limit and last is not None
    return TimelinePage(page, _encode(last.at.isoformat(), last.kind, last.subject_id) if more and last else None)
