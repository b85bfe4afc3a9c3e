"""The customers feature answers the outbox for a message's customer (engine.outbox.ports.Addressee).

Registered by ``register(ctx)`` (a build_engine plug-in module): the outbox is core and reads neither the customer
nor their consents itself. Consents belong to the customer (engine.customers.models); the dispatcher reads the current
ones at send time through this directory.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.customers.models import Consent, Customer
from engine.outbox.ports import Addressee
from engine.privacy import FieldCipher, customer_field


def register(ctx: EngineContext) -> None:
    """Make this feature the outbox's directory of customers."""
    ctx.addressees = addressee


def addressee(session: Session, cipher: FieldCipher, customer_id: str) -> Addressee | None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    consents = {(c.channel, c.purpose): c.granted
                for c in session.scalars(select(Consent).where(Consent.customer_id == customer.id))}
    reachable = {"inapp"}
    for channel, value in (("sms", customer.phone_enc), ("email", customer.email_enc), ("wechat", customer.wechat_openid)):
        if value:
            reachable.add(channel)
    readers: dict[str, Callable[[], str | None]] = {
        "sms": lambda: cipher.decrypt(customer.phone_enc, customer_field("phone", customer.id)),
        "email": lambda: cipher.decrypt(customer.email_enc, customer_field("email", customer.id)),
        "wechat": lambda: customer.wechat_openid,
        "inapp": lambda: customer.id,
    }
    return Addressee(
        customer_id=customer.id, status=customer.status, do_not_disturb=customer.do_not_disturb,
        preferred_channel=customer.preferred_channel, reachable=frozenset(reachable), consents=consents,
        language=customer.language, gender=customer.gender, tier=customer.tier, name=lambda: customer.name or "",
        address=lambda channel: readers[channel](),
    )
