"""Onboarding follow-ups that run on a schedule: the risk re-assessment before the questionnaire expires.

docs/domain.md §2.3: an assessment is valid 12 months; a "re-assess" task starts ``risk_reassess_days_before``
(default 30) days before ``risk_valid_until``. docs/domain.md §4.3 lists "before a risk-assessment expiry"
among the event-driven revisits, so the task is a ``periodic_revisit`` instance with occasion
``risk_reassess``: its branch asks the customer manager to take the questionnaire again
(``forms/onboarding_risk.json``) and records the new level with ``careflow.customer.risk_assess``.

``scan_risk_reassessments(ctx, day)`` is a function for the scheduler or the CLI (daily, like the
care scans). The business key ``reassess:<customer>:<valid until>`` makes reruns and overlapping
windows start nothing twice; a new assessment moves ``valid_until`` and so opens a new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from engine.context import EngineContext
from engine.customers.models import Customer, CustomerStatus
from engine.db.session import unit_of_work
from engine.services.authz import require_role
from engine.services.instances import StartRequest, start_instances
from engine.views import SYSTEM, Actor

REVISIT_PROCESS = "periodic_revisit"


@dataclass(frozen=True)
class ReassessScan:
    day: date
    started: int
    skipped: int


def scan_risk_reassessments(ctx: EngineContext, day: date, *, actor: Actor = SYSTEM) -> ReassessScan:
    """Start a re-assessment for every active customer whose questionnaire expires within the window.

    The window is [day, day + risk_reassess_days_before]; expired assessments older than ``day`` were
    due in an earlier window. Raises DefinitionNotFoundError if ``periodic_revisit`` is not deployed,
    PermissionDeniedError for callers who are not supervisors or admins.
    """
    require_role(actor, "supervisor")
    horizon = day + timedelta(days=ctx.settings.sales.reassess_days_before)
    started = skipped = 0
    last = ""
    while True:
        with unit_of_work(ctx.sessions, write=False) as session:
            batch = list(session.scalars(select(Customer).where(
                Customer.id > last, Customer.status == CustomerStatus.ACTIVE.value,
                Customer.risk_valid_until.between(day, horizon)).order_by(Customer.id).limit(ctx.settings.care.batch_size)))
        if not batch:
            return ReassessScan(day, started, skipped)
        requests = [StartRequest(f"reassess:{c.id}:{c.risk_valid_until}", c.id, {
            "customer_id": c.id, "occasion": "risk_reassess", "tier": c.tier, "manager": c.manager,
            "due_on": str(c.risk_valid_until)}) for c in batch]
        result = start_instances(ctx, process_key=REVISIT_PROCESS, requests=requests, actor=SYSTEM)
        started, skipped = started + len(result.started), skipped + len(result.skipped)
        last = batch[-1].id
