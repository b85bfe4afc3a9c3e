"""A customer's complaints on their 360° timeline (engine.customers.customer360), added by ``register(ctx)``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.complaints.models import Complaint
from engine.customers.customer360 import TimelineItem, page_after


def complaint_items(session: Session, cid: str, after: tuple[datetime, str, str] | None, n: int) -> list[TimelineItem]:
    """Complaints by case number and classification only: the summary may quote the customer (docs/domain.md §3.3)."""
    rows = session.scalars(select(Complaint).where(
        Complaint.customer_id == cid, page_after(Complaint.received_at, Complaint.case_no, "complaint", after, str))
        .order_by(Complaint.received_at.desc(), Complaint.case_no.desc()).limit(n))
    return [TimelineItem(r.received_at, "complaint", f"投诉 {r.case_no}（{r.business_type}/{r.cause}）",
                         f"Complaint {r.case_no} ({r.business_type}/{r.cause})", r.case_no, r.status,
                         parts=(r.case_no, r.business_type, r.cause)) for r in rows]
