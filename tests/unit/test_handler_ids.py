"""Service handler ids are stable literals declared by their feature packages, and every id a shipped BPMN names is
registered (issue 18: ids independent of module paths, so code can move without breaking deployed processes)."""

from __future__ import annotations

import re
from pathlib import Path

from engine.complaints import handlers as complaint_handlers
from engine.context import EngineContext
from engine.onboarding import handlers as onboarding_handlers
from engine.outbox.store import NOTIFY_HANDLER
from engine.runtime.handlers import NOTIFY
from engine.sales import handlers as sales_handlers

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
OPERATOR = re.compile(r'serviceTaskOperator\s+id="([^"]+)"')

# The ids shipped processes and stored definitions use today: changing one breaks every deployed version naming it.
SHIPPED = {
    "careflow.notify",
    "careflow.complaint.record", "careflow.complaint.deadline",
    "careflow.customer.duplicate_check", "careflow.customer.create", "careflow.customer.risk_assess",
    "careflow.customer.set_tier", "careflow.customer.assign_manager", "careflow.revisit.schedule_next",
    "sales.open_lead", "sales.suitability_facts", "sales.decide", "sales.note_contact", "sales.close_lead",
    "sales.record_sale", "sales.record_cancellation", "sales.record_revisit",
}


def declared() -> set[str]:
    ids = [NOTIFY_HANDLER, *complaint_handlers.HANDLER_IDS, *onboarding_handlers.HANDLER_IDS,
           *sales_handlers.HANDLER_IDS]
    assert len(ids) == len(set(ids)), "a handler id is declared twice"
    return set(ids)


def named_by_bpmn() -> set[str]:
    found: set[str] = set()
    for path in sorted(PROCESSES.glob("*.bpmn")):
        found.update(OPERATOR.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_handler_a_shipped_process_names_is_registered(ctx: EngineContext) -> None:
    names = named_by_bpmn()
    assert names, "no serviceTaskOperator found: the pattern no longer matches the BPMN files"
    assert names - set(ctx.handlers) == set()


def test_the_registered_handlers_are_exactly_the_declared_constants(ctx: EngineContext) -> None:
    assert set(ctx.handlers) == declared()


def test_the_declared_ids_keep_the_strings_deployed_definitions_use() -> None:
    assert NOTIFY == NOTIFY_HANDLER
    assert declared() == SHIPPED
    assert named_by_bpmn() <= SHIPPED
