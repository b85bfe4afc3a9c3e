"""Reporting: the monthly AUM snapshot and the indexes the dashboard queries walk (docs/domain.md §4.4, §1.7).

The dashboards read the query tables the engine already keeps current in each step's transaction
(``human_task``, ``complaint``, ``sales_lead``, ``outbox_message``, ``customer``) through the indexes
declared here, never the serialized workflow state. The one figure no live table holds is a
customer's AUM and status at an earlier date (AUM growth, attrition): ``aum_snapshot`` keeps them
per customer and month, written by ``engine.reporting.snapshot.take_aum_snapshot`` (daily scan on
the first of the month; idempotent).

The indexes on other modules' tables are declared here, next to the queries that need them, so that
the owning modules stay as they are; ``Index(..., table.c.x)`` attaches each one to its table.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.complaints.models import Complaint
from engine.customers.models import Customer
from engine.db.base import Base
from engine.db.models import HumanTask, ProcessInstance
from engine.outbox.models import OutboxMessage
from engine.sales.models import SalesLead


class AumSnapshot(Base):
    """A customer's AUM, tier, manager, branch and status at the start of a month (``month`` = its first day)."""

    __tablename__ = "aum_snapshot"
    __table_args__ = (Index("ix_aum_snapshot_month_manager", "month", "manager"),)

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    manager: Mapped[str | None] = mapped_column(String(128))
    branch: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    aum: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    taken_at: Mapped[datetime]


_task, _instance = HumanTask.__table__.c, ProcessInstance.__table__.c
_complaint, _lead, _outbox = Complaint.__table__.c, SalesLead.__table__.c, OutboxMessage.__table__.c
_customer = Customer.__table__.c

# The branch filter and the branch list of the dashboard's filters (index-only).
Index("ix_customer_branch_manager", _customer.branch, _customer.manager)
# Open work per person: an index-only range of the open/claimed tasks, grouped by assignee.
Index("ix_human_task_status_assignee_due", _task.status, _task.assignee, _task.due_at)
# A process's open tasks (analytics: where instances wait; index-only) and its tasks created in a period (revisits:
# queried with every status listed, so that the created_at range applies within each status).
Index("ix_human_task_process_status_created", _task.process_key, _task.status, _task.created_at, _task.task_name,
      _task.instance_id)
# Handling time per step: tasks of a process that ended in a period, with what the average needs (index-only).
Index("ix_human_task_process_completed", _task.process_key, _task.completed_at, _task.task_name, _task.created_at,
      _task.status)
# Process analytics per version: instances started in a period (by status), cycle times of those ended in it;
# ``id`` last so that "the tasks of this version" joins on an index-only range of the version's instances.
Index("ix_process_instance_definition_started", _instance.definition_id, _instance.started_at, _instance.status,
      _instance.id)
Index("ix_process_instance_definition_ended", _instance.definition_id, _instance.ended_at, _instance.started_at,
      _instance.status)
# Complaint statistics by receipt, answer and review-request time.
Index("ix_complaint_received", _complaint.received_at)
Index("ix_complaint_answered", _complaint.answered_at)
Index("ix_complaint_review_requested", _complaint.review_requested_at)
# Cross-sell funnel: leads created in a period.
Index("ix_sales_lead_created", _lead.created_at)
# Care coverage: greetings queued in a period, by template, and what became of them (index-only).
Index("ix_outbox_message_template_created", _outbox.template, _outbox.created_at, _outbox.status,
      _outbox.status_reason)
