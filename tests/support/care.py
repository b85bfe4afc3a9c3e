"""Customers and the care processes for tests: deploy the real files, add customers fast."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.context import EngineContext
from engine.customers.service import CustomerInput, customer_row
from engine.db.session import unit_of_work
from engine.outbox.ports import DeliveryReceipt, OutboundMessage, TransientChannelError
from tests.support.engine import deploy

ROOT = Path(__file__).resolve().parents[2]
CARE_PROCESSES = ("birthday_care", "holiday_care", "periodic_revisit")
CARE_DECISIONS = ("revisit_frequency.dmn",)  # called by periodic_revisit


def deploy_care(ctx: EngineContext, *keys: str) -> None:
    forms = [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    decisions = [(name, (ROOT / "processes" / name).read_bytes()) for name in CARE_DECISIONS]
    for key in keys or CARE_PROCESSES:
        deploy(ctx, (f"{key}.bpmn", (ROOT / "processes" / f"{key}.bpmn").read_bytes()), *decisions, *forms)


def add_customers(ctx: EngineContext, *people: CustomerInput) -> None:
    with unit_of_work(ctx.sessions) as session:
        session.add_all([customer_row(ctx, person) for person in people])


def customer(cid: str, born: date | None = date(1980, 5, 20), **kw: object) -> CustomerInput:
    kw.setdefault("phone", "13800138000")
    kw.setdefault("name", "王小明")
    return CustomerInput(id=cid, birth_date=born, **kw)  # type: ignore[arg-type]


class RecordingChannel:
    """A channel that records what it carried, de-duplicates by key, and can fail on demand."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.delivered: dict[str, OutboundMessage] = {}
        self.attempts = 0
        self.failures_left = 0

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.attempts += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise TransientChannelError("gateway busy")
        self.delivered.setdefault(message.idempotency_key, message)
        return DeliveryReceipt(provider_id=f"{self.name}:{len(self.delivered)}")
