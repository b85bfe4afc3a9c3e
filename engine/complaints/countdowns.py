"""Complaints' regulatory countdowns as the inbox shows them beside a complaint's tasks (web.worklist)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from engine.complaints.deadlines import local_day
from engine.complaints.models import Complaint
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.services.authz import require_any_role
from engine.views import Actor


@dataclass(frozen=True)
class Countdown:
    """A complaint's regulatory clock as the inbox shows it, in bank-local calendar days."""

    case_no: str
    target_on: date
    legal_on: date
    target_days_left: int  # negative: past the internal target
    legal_days_left: int
    paused_days: int  # appraisal days not counted so far
    paused: bool  # the clock is stopped now (an appraisal is under way)
    closed: bool  # answered, closed or withdrawn: no clock any more


def complaint_countdowns(ctx: EngineContext, instance_ids: list[str], *, actor: Actor) -> dict[str, Countdown]:
    """The countdown of each complaint case handled by one of these process instances, by instance id.

    The caller lists only tasks the actor may see; a case shows here only its number and dates."""
    require_any_role(actor)
    keys = [uuid.UUID(i) for i in instance_ids]
    if not keys:
        return {}
    today = local_day(ctx.clock.now(), ctx.settings.zone)
    with unit_of_work(ctx.sessions, write=False) as session:
        found = session.execute(
            select(Complaint.instance_id, Complaint.case_no, Complaint.target_due_on, Complaint.legal_due_on,
                   Complaint.regulator_due_on, Complaint.paused_days, Complaint.pause_started_at,
                   Complaint.answered_at, Complaint.closed_at)
            .where(Complaint.instance_id.in_(keys))
        ).all()
    result = {}
    for instance_id, case_no, target, legal, regulator, paused_days, pause_started, answered, closed in found:
        legal_on = min(legal, regulator) if regulator else legal
        result[str(instance_id)] = Countdown(
            case_no=case_no, target_on=target, legal_on=legal_on, target_days_left=(target - today).days,
            legal_days_left=(legal_on - today).days, paused_days=paused_days or 0,
            paused=pause_started is not None, closed=answered is not None or closed is not None)
    return result
