"""Service-task handlers of the sales processes, registered on every engine context.

``cross_sell_followup`` (processes/cross_sell_followup.bpmn) calls, in order: ``sales.open_lead``,
``sales.suitability_facts`` (then the ``product_suitability`` DMN), ``sales.decide``,
``sales.note_contact``, ``sales.close_lead``, ``sales.record_sale``, ``sales.record_cancellation``
and ``sales.record_revisit``. Handlers read committed customer and product rows in a short read
transaction and leave every write as a step effect (engine.sales.records), so it commits with the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from engine.bpmn.workflow import ServiceCall
from engine.context import EngineContext
from engine.db.session import unit_of_work
from engine.sales import records
from engine.sales.suitability import (
    BLOCK,
    DOUBLE_RECORDING,
    EXTRA,
    Reason,
    SuitabilityDecision,
    evaluate,
    product_level,
    reason,
)

CONTACT_OUTCOMES = ("contacted", "interested", "declined")
CLOSING_STATUSES = ("declined", "cancelled")
REVISIT_OUTCOMES = ("confirmed", "disputed", "unreachable")
# Not a suitability rule but a sale-record check: the 双录 reference must be there (docs/domain.md §2.5).
DOUBLE_RECORDING_MISSING = Reason("double_recording_missing", "网点销售须填写双录编号",
                                  "a branch sale needs the double-recording reference")


# Stable handler ids: what processes/cross_sell_followup.bpmn and every stored definition name (serviceTaskOperator
# id="…"). They are literals, never derived from a module or function name, so code can move without breaking a
# deployed process.
OPEN_LEAD = "sales.open_lead"
SUITABILITY_FACTS = "sales.suitability_facts"
DECIDE = "sales.decide"
NOTE_CONTACT = "sales.note_contact"
CLOSE_LEAD = "sales.close_lead"
RECORD_SALE = "sales.record_sale"
RECORD_CANCELLATION = "sales.record_cancellation"
RECORD_REVISIT = "sales.record_revisit"
HANDLER_IDS = (OPEN_LEAD, SUITABILITY_FACTS, DECIDE, NOTE_CONTACT, CLOSE_LEAD, RECORD_SALE, RECORD_CANCELLATION,
               RECORD_REVISIT)
PROCESS_KEY = "cross_sell_followup"


def register(ctx: EngineContext) -> None:
    """Add this package's handlers to ``ctx`` (called by build_engine)."""
    handlers = _Handlers(ctx)
    bound = {
        OPEN_LEAD: handlers.open_lead,
        SUITABILITY_FACTS: handlers.suitability_facts,
        DECIDE: handlers.decide,
        NOTE_CONTACT: handlers.note_contact,
        CLOSE_LEAD: handlers.close_lead,
        RECORD_SALE: handlers.record_sale,
        RECORD_CANCELLATION: handlers.record_cancellation,
        RECORD_REVISIT: handlers.record_revisit,
    }
    for handler_id, handler in bound.items():
        ctx.register_handler(handler_id, handler, processes=(PROCESS_KEY,))


def merge_dmn(decision: SuitabilityDecision, level_decision: str | None, extra_care: str | None) -> dict[str, Any]:
    """The Python decision, made stricter by the DMN if they ever differ (an edited table can only add care)."""
    result = decision.as_dict()
    if level_decision in (None, "", BLOCK) and result["decision"] != BLOCK:
        result.update(decision=BLOCK, extra_steps=[], blocking=[*result["blocking"], "level_mismatch"])
        result["reasons"] = [reason("level_mismatch").as_dict(), *result["reasons"]]
    elif extra_care and extra_care not in result["extra_steps"] and result["decision"] != BLOCK:
        result.update(decision=EXTRA, extra_steps=[extra_care, *result["extra_steps"]])
    return result


class _Handlers:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx

    def _day(self, call: ServiceCall) -> date:
        return call.now.astimezone(self.ctx.settings.zone).date()

    def open_lead(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        effect = records.OpenLead(lead_id=str(params["lead_id"]), customer_id=str(params["customer_id"]),
                                  product_code=str(params["product_code"]), source=str(params["source"]),
                                  reason=str(params.get("reason") or "")[:256],
                                  created_by=str(params.get("created_by") or "system"))
        call.effects.append(effect)
        return {"lead_id": effect.lead_id}

    def suitability_facts(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        policy = records.policy_from(self.ctx.settings)
        with unit_of_work(self.ctx.sessions, write=False) as session:
            facts, _product = records.load_facts(session, self.ctx.settings, str(params["customer_id"]),
                                                 str(params["product_code"]), self._day(call))
        decision = evaluate(facts, policy)
        return records.facts_to_data(facts, product_level(facts.seller_product_level, facts.issuer_product_level),
                                     decision.age, policy)

    def decide(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        facts = records.facts_from_data(dict(params["facts"]))
        decision = evaluate(facts, records.policy_from(self.ctx.settings))
        result = merge_dmn(decision, params.get("level_decision"), params.get("extra_care"))
        call.effects.append(records.LeadChecked(str(params["lead_id"]), result))
        return result

    def note_contact(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        outcome = str(params["contact_outcome"])
        if outcome not in CONTACT_OUTCOMES:
            raise ValueError(f"contact outcome must be one of {', '.join(CONTACT_OUTCOMES)}")
        call.effects.append(records.LeadStatus(str(params["lead_id"]), outcome, contact=True))
        return {"status": outcome}

    def close_lead(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        status = str(params["status"])
        if status not in CLOSING_STATUSES:
            raise ValueError(f"a lead closes as one of {', '.join(CLOSING_STATUSES)}")
        call.effects.append(records.LeadStatus(str(params["lead_id"]), status))
        return {"status": status}

    def record_sale(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        """Check suitability again on the sale date with amount and channel; record the sale if allowed.

        A refused sale returns ``recorded: False`` with the reasons (the form comes back), never an error.
        """
        settings, day = self.ctx.settings, self._day(call)
        channel = params.get("channel")
        ref = str(params.get("double_recording_ref") or "").strip() or None
        with unit_of_work(self.ctx.sessions, write=False) as session:
            lead = records.lead_row(session, str(params["lead_id"]))
            try:
                amount = records.parse_amount(params.get("amount"))
            except Exception:
                return {"recorded": False, "reasons": [{"code": "amount_missing", "zh": "请填写购买金额",
                                                        "en": "enter the amount"}]}
            facts, product = records.load_facts(session, settings, lead.customer_id, lead.product_code, day,
                                                amount=amount, channel=channel if channel in ("branch", "online") else None)
        if facts.channel is None:
            return {"recorded": False, "reasons": [{"code": "channel_missing", "zh": "请选择销售渠道",
                                                    "en": "choose the channel"}]}
        decision = evaluate(facts, records.policy_from(settings)).as_dict()
        if decision["decision"] != BLOCK and DOUBLE_RECORDING in decision["extra_steps"] and ref is None:
            decision["reasons"] = [DOUBLE_RECORDING_MISSING.as_dict(), *decision["reasons"]]
            decision["decision"] = BLOCK
        if decision["decision"] == BLOCK:
            return {"recorded": False, "reasons": decision["reasons"]}
        until = records.cooling_off_end(call.now, records.cooling_off_hours(product, settings))
        call.effects.append(records.RecordSale(lead_id=lead.id, amount=amount, channel=facts.channel,
                                               double_recording_ref=ref, bought_on=day, cooling_off_until=until,
                                               decision=decision))
        return {"recorded": True, "decision": decision["decision"], "extra_steps": decision["extra_steps"],
                "amount": str(amount), "cooling_off_until": until.isoformat() if until else None}

    def record_cancellation(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        call.effects.append(records.CancelSale(str(params["lead_id"])))
        return {"cancelled_at": call.now.isoformat()}

    def record_revisit(self, params: Mapping[str, Any], call: ServiceCall) -> dict[str, Any]:
        outcome = str(params["revisit_outcome"])
        if outcome not in REVISIT_OUTCOMES:
            raise ValueError(f"revisit outcome must be one of {', '.join(REVISIT_OUTCOMES)}")
        call.effects.append(records.RecordRevisit(str(params["lead_id"]), outcome))
        return {"outcome": outcome}
