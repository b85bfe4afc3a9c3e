"""`careflow demo load` (what `make run` shows a newcomer): every process deployed, work waiting at many steps."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select

from engine.complaints import portal
from engine.complaints.models import Complaint
from engine.customers.models import Customer
from engine.db.models import ProcessDefinition, ProcessInstance
from engine.outbox.models import OutboxMessage
from engine.sales.models import SalesLead
from web.demo import COMPLAINTS, load


def test_demo_load_builds_a_living_system_and_a_second_run_adds_nothing(ctx):
    lines = list(load(ctx))
    assert not [line for line in lines if "skipped" in line or "not opened" in line], lines
    [portal_line] = [line for line in lines if line.startswith("portal:")]
    phone = re.search(r"with (1\d{10})", portal_line).group(1)  # type: ignore[union-attr]
    portal.request_code(ctx, phone, ip=None)  # the printed phone is a demo customer's: a code goes out
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).where(OutboxMessage.template == "one_time_code")) == 1
    with ctx.sessions() as session:
        deployed = set(session.scalars(select(ProcessDefinition.key)))
        assert deployed == {"birthday_care", "complaint_handling", "cross_sell_followup", "customer_onboarding",
                            "holiday_care", "periodic_revisit", "service_request"}
        assert session.scalar(select(func.count()).select_from(Customer)) == 300
        assert session.scalar(select(func.count()).where(Customer.birthday_calendar == "lunar")) > 0
        assert session.scalar(select(func.count()).where(Customer.birthday_md == "02-29")) >= 1
        statuses = dict(session.execute(select(Complaint.channel, Complaint.status)).all())
        assert len(statuses) == len(COMPLAINTS) and statuses["mobile_app"] != "investigating"  # the answered one moved on
        assert session.scalar(select(func.count()).where(SalesLead.source != "maturity")) == 3
        running = dict(session.execute(select(ProcessInstance.process_key, func.count())
                                       .where(ProcessInstance.status == "running")
                                       .group_by(ProcessInstance.process_key)).all())
        assert {"complaint_handling", "customer_onboarding", "service_request", "periodic_revisit"} <= set(running)
        by_process = select(ProcessInstance.process_key, func.count()).group_by(ProcessInstance.process_key)
        counts = dict(session.execute(by_process).all())
    list(load(ctx))
    with ctx.sessions() as session:
        assert dict(session.execute(by_process).all()) == counts
        assert session.scalar(select(func.count()).select_from(Complaint)) == len(COMPLAINTS)
    assert ctx.clock.now().date() == date(2025, 3, 3)
