"""A small hand-built bank for the report tests: the expected KPI numbers are worked out in the tests.

Rows are inserted directly (no processes run): five customers of alice, bob and carol, complaints,
leads, greetings, revisit and complaint tasks, two versions of ``complaint_handling`` with instances,
and the AUM snapshot of 2025-02-01. Times are UTC; the bank's day is UTC+8. The clock is the
fixture's 2025-03-03 01:00 UTC (09:00 in Shanghai).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from engine.complaints.models import Complaint
from engine.context import EngineContext
from engine.customers.accounts_models import Product
from engine.customers.models import Customer
from engine.db.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.db.session import unit_of_work
from engine.outbox.models import OutboxMessage
from engine.reporting.models import AumSnapshot
from engine.sales.models import SalesLead
from tests.support.care import add_customers, customer


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


CUSTOMERS = {  # id: (manager, branch, tier, status, aum now, customer since)
    "C1": ("alice", "朝阳支行", "gold", "active", "100000", date(2024, 1, 1)),
    "C2": ("alice", "朝阳支行", "mass", "active", "20000", date(2025, 2, 10)),
    "C3": ("bob", "海淀支行", "gold", "closed", "0", date(2023, 6, 1)),
    "C4": ("carol", "海淀支行", "platinum", "active", "500000", date(2025, 2, 20)),
    "C5": ("bob", "海淀支行", "mass", "dormant", "30000", date(2022, 3, 1)),
}
SNAPSHOT_FEB = {"C1": ("80000", "active"), "C3": ("50000", "active"), "C5": ("30000", "active")}


def _customers(ctx: EngineContext) -> None:
    add_customers(ctx, *(customer(cid, manager=m, branch=b, tier=t) for cid, (m, b, t, *_) in CUSTOMERS.items()))
    with unit_of_work(ctx.sessions) as session:
        for cid, (*_, status, aum, since) in CUSTOMERS.items():
            row = session.get_one(Customer, cid)
            row.status, row.aum, row.customer_since = status, Decimal(aum), since
        for cid, (aum, status) in SNAPSHOT_FEB.items():
            manager, branch, tier, *_ = CUSTOMERS[cid]
            session.add(AumSnapshot(month=date(2025, 2, 1), customer_id=cid, manager=manager, branch=branch, tier=tier,
                                    status=status, aum=Decimal(aum), taken_at=utc(2025, 2, 1, 1)))


def _complaint(n: int, customer_id: str | None, codes: str, received: datetime, answered: datetime | None,
               legal: date, *, status: str = "answered", satisfaction: int | None = None,
               review: datetime | None = None) -> Complaint:
    channel, business_type, cause = codes.split()
    return Complaint(case_no=f"TS-{n}", customer_id=customer_id, complainant_name="王小明", channel=channel,
                     business_type=business_type, cause=cause, summary="s", status=status, received_at=received,
                     clock_started_on=received.date(), target_due_on=legal, legal_due_on=legal, warn_on=legal,
                     answered_at=answered, satisfaction=satisfaction, review_requested_at=review, source="test",
                     source_ref=f"K{n}", created_at=received, updated_at=received)


COMPLAINTS: list[tuple[Any, ...]] = [
    # n, customer, codes, received, answered, legal due, extras
    (1, "C1", "A01 B01 C01", utc(2025, 2, 3, 2), utc(2025, 2, 18, 15), date(2025, 3, 5),
     {"satisfaction": 5, "review": utc(2025, 2, 20, 2)}),
    (2, "C1", "A01 B02 C01", utc(2025, 2, 3, 17), utc(2025, 2, 19, 1), date(2025, 2, 18), {"satisfaction": 2}),
    (3, "C3", "A02 B01 C02", utc(2025, 2, 10, 2), utc(2025, 3, 2, 2), date(2025, 3, 3), {}),
    (4, "C4", "A02 B01 C01", utc(2025, 2, 27, 2), None, date(2025, 3, 20), {"status": "investigating"}),
    (5, "C1", "A01 B01 C01", utc(2025, 2, 5, 2), None, date(2025, 3, 7), {"status": "merged"}),
    (6, "C1", "A01 B01 C01", utc(2025, 1, 20, 2), utc(2025, 2, 3, 2), date(2025, 2, 20), {"satisfaction": 4}),
    (7, None, "A01 B03 C03", utc(2025, 2, 14, 2), utc(2025, 2, 28, 20), date(2025, 3, 3), {"satisfaction": 3}),
    (8, "C1", "A01 B01 C01", utc(2025, 1, 2, 2), utc(2025, 1, 31, 15), date(2025, 2, 5), {"satisfaction": 4}),
    (9, "C2", "A01 B01 C01", utc(2025, 1, 3, 2), utc(2025, 1, 31, 17), date(2025, 2, 5), {"satisfaction": 1}),
]

LEADS = [  # id, customer, status, contact outcome, created
    ("L1", "C1", "sold", "interested", utc(2025, 2, 2, 2)),
    ("L2", "C1", "declined", "declined", utc(2025, 2, 3, 2)),
    ("L3", "C2", "blocked", None, utc(2025, 2, 4, 2)),
    ("L4", "C4", "interested", "interested", utc(2025, 2, 5, 2)),
    ("L5", "C3", "new", None, utc(2025, 2, 6, 2)),
    ("L6", "C4", "cancelled", "interested", utc(2025, 2, 7, 2)),
    ("L7", "C1", "sold", "interested", utc(2025, 1, 7, 2)),
]

MESSAGES = [  # template, customer, status, reason, created
    ("birthday_greeting", "C1", "sent", None, utc(2025, 2, 2, 1)),
    ("birthday_greeting", "C2", "suppressed", "opted_out", utc(2025, 2, 3, 1)),
    ("birthday_greeting", "C3", "suppressed", "do_not_disturb", utc(2025, 2, 4, 1)),
    ("holiday_greeting", "C1", "suppressed", "no_marketing_consent", utc(2025, 2, 5, 1)),
    ("holiday_greeting", "C4", "dead", None, utc(2025, 2, 6, 1)),
    ("holiday_greeting", "C5", "pending", None, utc(2025, 2, 7, 1)),
    ("holiday_greeting", "C5", "suppressed", "customer_dormant", utc(2025, 2, 8, 1)),
    ("complaint_ack", "C1", "sent", None, utc(2025, 2, 9, 1)),
    ("birthday_greeting", "C1", "sent", None, utc(2025, 1, 9, 1)),
]

INSTANCES = {  # name: (version, status, started, ended)
    "I1": (1, "completed", utc(2025, 2, 1, 0), utc(2025, 2, 1, 10)),
    "I2": (1, "completed", utc(2025, 2, 2, 0), datetime(2025, 2, 2, 5, 33, 20, tzinfo=UTC)),  # 20,000 s
    "I3": (1, "completed", utc(2025, 2, 3, 0), datetime(2025, 2, 3, 0, 16, 40, tzinfo=UTC)),  # 1,000 s
    "I4": (1, "running", utc(2025, 2, 4, 0), None),
    "I5": (1, "completed", utc(2025, 1, 10, 0), utc(2025, 2, 5, 0)),  # 26 days = 2,246,400 s
    "I6": (2, "error", utc(2025, 2, 10, 0), None),
    "I7": (2, "cancelled", utc(2025, 2, 11, 0), utc(2025, 2, 11, 1)),
    "I8": (2, "running", utc(2025, 2, 12, 0), None),
    "IR": (0, "running", utc(2025, 1, 1, 0), None),  # the periodic_revisit instance
}

TASKS = [  # instance, process, task, status, assignee, customer, created, due, completed
    ("I4", "complaint_handling", "acknowledge", "open", None, "C1", utc(2025, 2, 25, 1), utc(2025, 3, 1), None),
    ("I4", "complaint_handling", "investigate", "claimed", "alice", "C1", utc(2025, 3, 1, 1), utc(2025, 3, 5), None),
    ("I4", "complaint_handling", "investigate", "claimed", "alice", "C1", utc(2025, 3, 2, 1), utc(2025, 3, 2), None),
    ("I8", "complaint_handling", "approve", "claimed", "carol", "C4", utc(2025, 2, 26, 1), None, None),
    ("I1", "complaint_handling", "investigate", "completed", "alice", "C1", utc(2025, 2, 10), None, utc(2025, 2, 10, 6)),
    ("I2", "complaint_handling", "investigate", "completed", "bob", "C3", utc(2025, 2, 11), None, utc(2025, 2, 11, 2)),
    ("I3", "complaint_handling", "approve", "completed", "sam", "C3", utc(2025, 2, 12), None,
     datetime(2025, 2, 12, 1, 30, tzinfo=UTC)),
    ("I5", "complaint_handling", "investigate", "completed", "alice", "C1", utc(2025, 1, 14), None, utc(2025, 1, 15)),
    ("IR", "periodic_revisit", "revisit_customer", "completed", "alice", "C1", utc(2025, 2, 2), utc(2025, 2, 7),
     utc(2025, 2, 5)),
    ("IR", "periodic_revisit", "revisit_customer", "completed", "alice", "C2", utc(2025, 2, 3), utc(2025, 2, 8),
     utc(2025, 2, 10)),
    ("IR", "periodic_revisit", "revisit_customer", "claimed", "bob", "C3", utc(2025, 2, 4), utc(2025, 2, 9), None),
    ("IR", "periodic_revisit", "revisit_customer", "completed", "carol", "C4", utc(2025, 2, 5), utc(2025, 2, 10),
     utc(2025, 2, 6)),
    ("IR", "periodic_revisit", "revisit_customer", "completed", "alice", "C1", utc(2025, 1, 5), utc(2025, 1, 10),
     utc(2025, 1, 6)),
]


def _processes(session: Any) -> None:
    definitions = {}
    for key, version in (("complaint_handling", 1), ("complaint_handling", 2), ("periodic_revisit", 1)):
        row = ProcessDefinition(key=key, version=version, name=key, sha256="0" * 64, deployed_by="dora",
                                deployed_at=utc(2025, 1, 1))
        session.add(row)
        session.flush()
        definitions[(key, version)] = row.id
    ids = {}
    for name, (version, status, started, ended) in INSTANCES.items():
        key = ("periodic_revisit", 1) if version == 0 else ("complaint_handling", version)
        ids[name] = uuid.uuid4()
        session.add(ProcessInstance(id=ids[name], definition_id=definitions[key], process_key=key[0], status=status,
                                    state="{}", state_version=1, started_by="test", started_at=started,
                                    updated_at=started, ended_at=ended))
    session.flush()
    for instance, process, task, status, assignee, cid, created, due, completed in TASKS:
        session.add(HumanTask(id=uuid.uuid4(), instance_id=ids[instance], process_key=process, customer_id=cid,
                              task_name=task, title=task, status=status, assignee=assignee, priority=50, due_at=due,
                              created_at=created, completed_at=completed,
                              completed_by=assignee if completed else None))


def build_bank(ctx: EngineContext) -> None:
    """Everything above, in a few transactions."""
    _customers(ctx)
    with unit_of_work(ctx.sessions) as session:
        session.add(Product(code="WMP1", name="理财1", family="wmp", risk_level=2, active=True))
        for n, cid, codes, received, answered, legal, extra in COMPLAINTS:
            session.add(_complaint(n, cid, codes, received, answered, legal, **extra))
        session.flush()
        for lead_id, cid, status, outcome, created in LEADS:
            session.add(SalesLead(id=lead_id, customer_id=cid, product_code="WMP1", source="campaign", reason="r",
                                  status=status, contact_outcome=outcome, created_by="test", created_at=created,
                                  updated_at=created))
        for i, (template, cid, status, reason, created) in enumerate(MESSAGES):
            session.add(OutboxMessage(idempotency_key=f"m{i}", customer_id=cid, channel="sms", purpose="service",
                                      template=template, params={}, status=status, status_reason=reason,
                                      next_attempt_at=created, created_at=created))
        _processes(session)
