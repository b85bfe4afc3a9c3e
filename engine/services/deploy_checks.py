"""What a deploy checks a process against in this installation: its groups (with their active members), its
active users and the message names somebody sends (``engine.bpmn.validation.Directory``).

Message senders: CareFlow itself (the outbox's delivery report, the customer's own acts on a complaint or a sale,
new facts on a complaint) and intake clients granted ``correlate`` on a message by name (engine.authz).
"""

from __future__ import annotations

from sqlalchemy import func, select

from engine.authz.catalogue import CUSTOMER_ACTS
from engine.bpmn.validation import Directory
from engine.context import EngineContext
from engine.db.authz import Grant
from engine.db.models import Group, GroupMembership, User
from engine.db.session import unit_of_work
from engine.outbox.store import DELIVERY_MESSAGE

# Messages CareFlow's own code delivers (the outbox, engine.complaints.service, the customer's acts).
ENGINE_MESSAGES = frozenset({DELIVERY_MESSAGE, "complaint.new_facts", *CUSTOMER_ACTS})


def directory(ctx: EngineContext) -> Directory:
    """A snapshot of groups, active users and known message names, read in one short transaction."""
    with unit_of_work(ctx.sessions, write=False) as session:
        active = select(User.id).where(User.active.is_(True)).scalar_subquery()
        members = dict(session.execute(
            select(Group.name, func.count(GroupMembership.user_id))
            .select_from(Group)
            .outerjoin(GroupMembership, (GroupMembership.group_id == Group.id) & GroupMembership.user_id.in_(active))
            .group_by(Group.name)).all())
        users = frozenset(session.scalars(select(User.username).where(User.active.is_(True))).all())
        granted = frozenset(session.scalars(select(Grant.resource_id).where(
            Grant.resource_kind == "message", Grant.permission == "correlate", Grant.resource_id != "*")).all())
    return Directory(groups={str(k): int(v) for k, v in members.items()}, users=users,
                     messages=ENGINE_MESSAGES | granted)
