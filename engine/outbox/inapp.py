"""The in-app channel: a notice in the customer portal, stored in CareFlow's own database."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock
from engine.db.session import unit_of_work
from engine.outbox.models import Notification
from engine.outbox.ports import DeliveryReceipt, OutboundMessage, PermanentChannelError


class InAppChannel:
    name = "inapp"

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        if not message.customer_id:
            raise PermanentChannelError("an in-app notice needs a customer")
        try:
            with unit_of_work(self._sessions) as session:
                row = Notification(idempotency_key=message.idempotency_key, customer_id=message.customer_id,
                                   title=message.subject, body=message.body, created_at=self._clock.now())
                session.add(row)
                session.flush()
                return DeliveryReceipt(provider_id=f"inapp:{row.id}")
        except IntegrityError:  # sent before (a retry after a crash): the same notice, not a second one
            with unit_of_work(self._sessions, write=False) as session:
                existing = session.scalar(select(Notification.id).where(
                    Notification.idempotency_key == message.idempotency_key))
            if existing is None:
                raise
            return DeliveryReceipt(provider_id=f"inapp:{existing}", detail="duplicate")
