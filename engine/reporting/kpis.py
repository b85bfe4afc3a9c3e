"""Dashboard KPIs: pure queries ``(session, scope) -> frozen dataclasses`` (docs/domain.md §4.4, §1.7).

Every query is a range on an indexed column of a query table (see ``engine.reporting.models``), grouped
in the database; none reads ``process_instance.state``. Definitions (followed by the code):

- **Open work**: tasks ``open`` or ``claimed`` now; **overdue** when ``due_at`` is before now.
- **Complaint volume**: complaints received in the period (``received_at``), merged repeats left out
  (they are folded into the case they repeat), by JR/T 0169 channel, business type and cause.
- **Decided within N days**: the bank-local date of ``answered_at`` minus the bank-local date of
  ``received_at`` is at most N calendar days; shares are of the complaints received in the period that
  have been decided (``answered_at`` set), for N = 15, 30, 60.
- **On-time closure**: decided (answered) on or before ``legal_due_on`` (the statutory day, with its
  extension), as a share of the same decided complaints.
- **Review requests**: complaints whose ``review_requested_at`` falls in the period.
- **Satisfaction**: the customer's 1–5 rating, averaged per bank-local month of the answer.
- **Handling time per step**: mean of ``completed_at − created_at`` of a process's tasks completed in
  the period, per task (BPMN element).
- **Cross-sell funnel** (leads created in the period): *contacted* = the contact happened
  (``contact_outcome`` set, or status contacted/interested/declined/sold); *interested* = outcome or
  status interested, or sold; *sold* = status sold; *blocked* = suitability refused the lead before any
  contact (docs/domain.md §2.10). **Cross-sell rate** = sold leads ÷ contacted leads.
- **Revisit completion**: ``periodic_revisit`` contact tasks created in the period, completed, and
  completed by their due time, per customer tier and manager.
- **Care coverage**: greetings (``birthday_greeting``, ``holiday_greeting``) queued in the period:
  sent; refused by consent (``opted_out``, ``no_marketing_consent``) or by do-not-disturb; refused for
  another reason (dormant, closed customer…); failed (dead letters); still pending.
- Scorecards (per customer manager, over the customers whose ``manager`` they are now):
  **AUM growth** = sum of AUM at period end − at period start, from the monthly snapshot: the start is
  the snapshot of the start date's month; the end is the snapshot of the month after the end date's
  month, or the customers' current AUM while that snapshot does not exist yet (a period up to today).
  **New customers** = ``customer_since`` in the period. **Attrition** = customers whose status became
  closed or dormant in the period ÷ customers active at period start (statuses at both ends taken as
  for AUM). **Complaint rate** = complaints received in the period ÷ customers in the portfolio (status
  not closed or deceased). **On-time closure** and **cross-sell rate** as above, for the portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from engine.complaints.models import Complaint, ComplaintStatus
from engine.customers.models import Customer
from engine.db.models import HumanTask, HumanTaskStatus
from engine.outbox.models import OutboxMessage
from engine.reporting.scope import Scope, Sql
from engine.sales.models import SalesLead

OPEN = (HumanTaskStatus.OPEN.value, HumanTaskStatus.CLAIMED.value)
ALL_TASK_STATES = tuple(s.value for s in HumanTaskStatus)
DECIDED_WITHIN = (15, 30, 60)
CARE_TEMPLATES = ("birthday_greeting", "holiday_greeting")
CONSENT_REFUSALS = ("opted_out", "no_marketing_consent")
REVISIT_PROCESS, REVISIT_TASK = "periodic_revisit", "revisit_customer"


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _for_customers(query: Select[Any], scope: Scope, customer_id: Any) -> Select[Any]:
    """Restrict a customer-anchored query to the scope's customers (joined only when a filter is set)."""
    if not scope.by_customer:
        return query
    return query.join(Customer, Customer.id == customer_id).where(*scope.customer_conditions())


# --- work ------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkRow:
    assignee: str | None  # None: waiting in a queue
    open: int
    overdue: int


@dataclass(frozen=True)
class WorkSummary:
    open: int
    overdue: int
    rows: tuple[WorkRow, ...]


def open_work(session: Session, scope: Scope) -> WorkSummary:
    """Open and overdue tasks per assignee (index-only on ``ix_human_task_status_assignee_due``)."""
    query = (select(HumanTask.assignee, func.count(), _count(HumanTask.due_at < scope.now))
             .where(HumanTask.status.in_(OPEN)).group_by(HumanTask.assignee))
    if scope.assignees is not None:
        query = query.where(HumanTask.assignee.in_(scope.assignees))
    rows = sorted((WorkRow(a, int(n), int(late)) for a, n, late in session.execute(query)),
                  key=lambda r: (-r.overdue, -r.open, r.assignee or ""))
    return WorkSummary(sum(r.open for r in rows), sum(r.overdue for r in rows), tuple(rows))


@dataclass(frozen=True)
class StepTime:
    task_name: str
    completed: int
    avg_hours: float | None


def step_times(session: Session, scope: Scope, process_key: str) -> tuple[StepTime, ...]:
    """Mean handling time per task of ``process_key`` completed in the period (``ix_human_task_process_completed``)."""
    sql = Sql(session, scope)
    seconds = sql.seconds(HumanTask.completed_at, HumanTask.created_at)
    query = (select(HumanTask.task_name, func.count(), func.avg(seconds))
             .where(HumanTask.process_key == process_key, *scope.in_period(HumanTask.completed_at),
                    HumanTask.status == HumanTaskStatus.COMPLETED.value)  # a cancelled task has completed_at too
             .group_by(HumanTask.task_name).order_by(HumanTask.task_name))
    if scope.assignees is not None:
        query = query.where(HumanTask.assignee.in_(scope.assignees))
    return tuple(StepTime(str(name), int(n), round(float(avg) / 3600, 2) if avg is not None else None)
                 for name, n, avg in session.execute(query))


# --- complaints ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True)
class ComplaintVolume:
    total: int
    by_channel: tuple[Count, ...]
    by_business_type: tuple[Count, ...]
    by_cause: tuple[Count, ...]


def _received(scope: Scope, *columns: Any) -> Select[Any]:
    query = select(*columns).where(*scope.in_period(Complaint.received_at),
                                   Complaint.status != ComplaintStatus.MERGED.value)
    return _for_customers(query, scope, Complaint.customer_id)


def complaint_volume(session: Session, scope: Scope) -> ComplaintVolume:
    """Complaints received per channel, business type and cause: one pass, grouped by all three, folded here."""
    dims = (Complaint.channel, Complaint.business_type, Complaint.cause)
    totals: tuple[dict[str, int], ...] = ({}, {}, {})
    for *keys, n in session.execute(_received(scope, *dims, func.count()).group_by(*dims)):
        for total, key in zip(totals, keys, strict=True):
            total[str(key)] = total.get(str(key), 0) + int(n)

    def counts(total: dict[str, int]) -> tuple[Count, ...]:
        return tuple(sorted((Count(k, n) for k, n in total.items()), key=lambda c: (-c.count, c.key)))

    channels, types, causes = (counts(t) for t in totals)
    return ComplaintVolume(sum(c.count for c in channels), channels, types, causes)


@dataclass(frozen=True)
class ComplaintTimeliness:
    received: int
    decided: int
    within_15: int
    within_30: int
    within_60: int
    on_time: int
    review_requests: int

    @property
    def share_15(self) -> float | None:
        return ratio(self.within_15, self.decided)

    @property
    def share_30(self) -> float | None:
        return ratio(self.within_30, self.decided)

    @property
    def share_60(self) -> float | None:
        return ratio(self.within_60, self.decided)

    @property
    def on_time_rate(self) -> float | None:
        return ratio(self.on_time, self.decided)


def decided_days(scope: Scope, sql: Sql, *columns: Any, join_customer: bool = False, days: bool = True) -> Any:
    """Complaints received in the period with ``answered_at``, ``on_time`` (1 when answered on or before
    ``legal_due_on``, else 0) and, with ``days``, ``days`` (bank-local days from receipt to answer; NULL while
    undecided), as a subquery.

    ``OFFSET 0`` keeps PostgreSQL from folding it into the outer query, which would convert each timestamp
    to the bank's zone once per use instead of once. ``join_customer``: ``columns`` name the customer's
    (joined anyway when the scope filters customers).
    """
    on_time = case((sql.local_date(Complaint.answered_at) <= Complaint.legal_due_on, 1), else_=0)
    extra = [Complaint.answered_at.label("answered_at"), on_time.label("on_time")]
    if days:
        extra.append(sql.days_between(Complaint.answered_at, Complaint.received_at).label("days"))
    query = _received(scope, *columns, *extra)
    if join_customer and not scope.by_customer:
        query = query.join(Customer, Customer.id == Complaint.customer_id)
    return query.offset(0).subquery()


def timeliness_columns(decided: Any, *, within: tuple[int, ...] = DECIDED_WITHIN) -> list[Any]:
    """count, decided, decided within each of ``within`` days, on time — over a :func:`decided_days` subquery
    (which must carry ``days`` when ``within`` names any)."""
    return [func.count(), func.count(decided.c.answered_at), *(_count(decided.c.days <= n) for n in within),
            func.coalesce(func.sum(decided.c.on_time), 0)]


def complaint_timeliness(session: Session, scope: Scope) -> ComplaintTimeliness:
    """Decided within 15/30/60 days, on time, and review requests (see the module's definitions)."""
    decided = decided_days(scope, Sql(session, scope))
    received, n, d15, d30, d60, on_time = session.execute(select(*timeliness_columns(decided))).one()
    reviews = session.scalar(_for_customers(
        select(func.count()).select_from(Complaint).where(*scope.in_period(Complaint.review_requested_at)),
        scope, Complaint.customer_id))
    return ComplaintTimeliness(int(received), int(n), int(d15), int(d30), int(d60), int(on_time), int(reviews or 0))


@dataclass(frozen=True)
class SatisfactionPoint:
    month: str  # YYYY-MM, bank-local month of the answer
    rated: int
    average: float


def satisfaction_trend(session: Session, scope: Scope) -> tuple[SatisfactionPoint, ...]:
    """Average rating per month of the answer, for complaints answered in the period and rated."""
    sql = Sql(session, scope)
    month = sql.local_month(Complaint.answered_at)
    query = _for_customers(
        select(month, func.count(), func.avg(Complaint.satisfaction))
        .where(*scope.in_period(Complaint.answered_at), Complaint.satisfaction.is_not(None)),
        scope, Complaint.customer_id).group_by(month).order_by(month)
    return tuple(SatisfactionPoint(str(m), int(n), round(float(avg), 2)) for m, n, avg in session.execute(query))


# --- cross-sell, revisits, care --------------------------------------------------------------------------------------

CONTACTED = or_(SalesLead.contact_outcome.is_not(None),
                SalesLead.status.in_(("contacted", "interested", "declined", "sold")))
INTERESTED = or_(SalesLead.contact_outcome == "interested", SalesLead.status.in_(("interested", "sold")))


@dataclass(frozen=True)
class Funnel:
    leads: int
    contacted: int
    interested: int
    sold: int
    blocked: int  # suitability refused before contact
    declined: int
    cancelled: int

    @property
    def cross_sell_rate(self) -> float | None:
        return ratio(self.sold, self.contacted)


def _funnel_columns() -> list[Any]:
    return [func.count(), _count(CONTACTED), _count(INTERESTED), _count(SalesLead.status == "sold"),
            _count(SalesLead.status == "blocked"), _count(SalesLead.status == "declined"),
            _count(SalesLead.status == "cancelled")]


def cross_sell_funnel(session: Session, scope: Scope) -> Funnel:
    query = _for_customers(select(*_funnel_columns()).where(*scope.in_period(SalesLead.created_at)),
                           scope, SalesLead.customer_id)
    return Funnel(*(int(v) for v in session.execute(query).one()))


@dataclass(frozen=True)
class RevisitRow:
    tier: str
    manager: str | None
    due: int
    completed: int
    on_time: int

    @property
    def completion_rate(self) -> float | None:
        return ratio(self.completed, self.due)


def revisit_completion(session: Session, scope: Scope) -> tuple[RevisitRow, ...]:
    """Revisit tasks created in the period per tier and manager (``ix_human_task_process_status_created``: every
    status is listed so that the created_at range is an index range within each)."""
    done = HumanTask.status == HumanTaskStatus.COMPLETED.value
    on_time = and_(done, or_(HumanTask.due_at.is_(None), HumanTask.completed_at <= HumanTask.due_at))
    query = (select(Customer.tier, Customer.manager, func.count(), _count(done), _count(on_time))
             .join(Customer, Customer.id == HumanTask.customer_id)
             .where(HumanTask.process_key == REVISIT_PROCESS, HumanTask.status.in_(ALL_TASK_STATES),
                    HumanTask.task_name == REVISIT_TASK,
                    *scope.in_period(HumanTask.created_at), *scope.customer_conditions())
             .group_by(Customer.tier, Customer.manager))
    rows = (RevisitRow(str(t), m, int(n), int(c), int(o)) for t, m, n, c, o in session.execute(query))
    return tuple(sorted(rows, key=lambda r: (r.tier, r.manager or "")))


@dataclass(frozen=True)
class CareRow:
    template: str
    due: int
    sent: int
    refused_consent: int
    refused_dnd: int
    refused_other: int
    failed: int
    pending: int


def care_coverage(session: Session, scope: Scope) -> tuple[CareRow, ...]:
    """Greetings queued in the period per template and what became of them (``ix_outbox_message_template_created``)."""
    suppressed = OutboxMessage.status == "suppressed"
    reason = OutboxMessage.status_reason
    query = _for_customers(
        select(OutboxMessage.template, func.count(), _count(OutboxMessage.status == "sent"),
               _count(and_(suppressed, reason.in_(CONSENT_REFUSALS))),
               _count(and_(suppressed, reason == "do_not_disturb")),
               _count(and_(suppressed, or_(reason.is_(None), reason.not_in((*CONSENT_REFUSALS, "do_not_disturb"))))),
               _count(OutboxMessage.status == "dead"), _count(OutboxMessage.status.in_(("pending", "sending"))))
        .where(OutboxMessage.template.in_(CARE_TEMPLATES), *scope.in_period(OutboxMessage.created_at)),
        scope, OutboxMessage.customer_id).group_by(OutboxMessage.template).order_by(OutboxMessage.template)
    return tuple(CareRow(str(t), *(int(v) for v in values)) for t, *values in session.execute(query))


def money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))
