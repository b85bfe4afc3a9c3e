"""A complaint's lifecycle on the real ``complaint_handling`` process, through the engine services.

- lifecycle_complaint_sqlite / lifecycle_complaint_postgres: complaints/s, each filed (``submit_complaint``: the
  case, its number, the acknowledgement in the outbox and the instance, run through its triage rules to the
  investigation), investigated (claimed and completed by a clerk), approved (a large fund-safety complaint needs
  a supervisor's approval: claimed and completed by another person, four eyes) and answered (the answer handler
  and the answer message), one transaction per call as the clerk's and supervisor's pages would make them. The
  inbox lookups of the two tasks are one query each, as in ``lifecycle_*``. Baseline: the raw SpiffWorkflow
  lifecycle of the same run (bench/__main__.py ``raw_lifecycle``), as for ``lifecycle_*``.
- statements_per_complaint_sqlite / _postgres: SQL statements one complaint lifecycle issues; baseline: the five
  service calls (file, claim, complete, claim, complete), so the ratio is statements per call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy import bindparam, select

from engine.bpmn.loader import SourceFile
from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.config import DatabaseSettings, PrivacySettings, Settings
from engine.context import EngineContext, build_engine
from engine.customers.service import CustomerInput, customer_row
from engine.db import migrate
from engine.db.models import HumanTask
from engine.db.session import unit_of_work
from engine.privacy import new_data_key
from engine.services import definitions, identity, tasks
from engine.views import Actor

ROOT = Path(__file__).resolve().parent.parent
FINDINGS = {"findings": "核对交易流水与监控录像", "decision": "upheld", "answer": "经核实，已为您退回重复扣款",
            "extension": "none"}
APPROVAL = {"approved": True, "approval_comment": "同意"}
CUSTOMERS = 1000  # made before the clock starts, and again when used up (one per complaint: see ``run``)
_TASK = select(HumanTask.id).where(HumanTask.instance_id == bindparam("instance"),
                                   HumanTask.task_name == bindparam("name"))


def deploy(ctx: EngineContext) -> None:
    files = [SourceFile(name, (ROOT / "processes" / name).read_bytes())
             for name in ("complaint_handling.bpmn", "complaint_routing.dmn")]
    files += [SourceFile(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("complaint_*.json"))]
    definitions.deploy_definition(ctx, files=files, actor=Actor("bench", frozenset({"designer"})))


def add_customers(ctx: EngineContext, prefix: str, count: int) -> list[str]:
    ids = [f"{prefix}{n:06d}" for n in range(count)]
    with unit_of_work(ctx.sessions) as session:
        session.add_all([customer_row(ctx, CustomerInput(id=cid, name="王小明", phone="13800138000")) for cid in ids])
    return ids


def engine_lifecycle(url: str) -> tuple[EngineContext, Callable[[], None]]:
    """(context, one complaint filed → investigated → approved → answered) on a fresh database at ``url``."""
    ctx = build_engine(Settings(database=DatabaseSettings(url=url), privacy=PrivacySettings(data_key=new_data_key())))
    migrate.upgrade(ctx.db)
    deploy(ctx)
    suffix = uuid.uuid4().hex[:6]
    identity.create_user(ctx, username=f"clerk{suffix}", roles=["staff"], groups=["service_team"])
    identity.create_user(ctx, username=f"sup{suffix}", roles=["supervisor"], groups=["service_team", "supervisors"])
    clerk, supervisor = identity.get_actor(ctx, f"clerk{suffix}"), identity.get_actor(ctx, f"sup{suffix}")

    customers: list[str] = []

    def task_id(instance_id: str, name: str) -> uuid.UUID:
        with ctx.sessions() as session:  # the task as the inbox would list it
            found = session.scalar(_TASK, {"instance": uuid.UUID(instance_id), "name": name})
        assert found is not None, name
        return found

    def run() -> None:
        # A customer of their own per complaint: a repeat of one customer's open case would be merged into it.
        if not customers:
            customers.extend(add_customers(ctx, f"B{uuid.uuid4().hex[:6]}", CUSTOMERS))
        view, created = complaints.submit_complaint(ctx, ComplaintInput(
            channel="mobile_app", business_type="bank_cards", cause="fund_safety", summary="卡被重复扣款",
            customer_id=customers.pop(), complainant_name="王小明", complainant_phone="13800138000",
            amount=Decimal("80000")), actor=clerk)
        assert created and view.status == "investigating" and view.instance_id is not None
        investigate = task_id(view.instance_id, "investigate")
        tasks.claim_task(ctx, investigate, actor=clerk)
        tasks.complete_task(ctx, investigate, actor=clerk, data=FINDINGS)
        approve = task_id(view.instance_id, "approve_answer")
        tasks.claim_task(ctx, approve, actor=supervisor)
        done = tasks.complete_task(ctx, approve, actor=supervisor, data=APPROVAL)
        assert done.status == "completed"

    return ctx, run
