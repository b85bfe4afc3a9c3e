"""The designer's catalogue of service handlers: descriptions, parameters, bindings."""

from __future__ import annotations

import pytest

from engine.context import EngineContext
from engine.errors import PermissionDeniedError
from engine.runtime.handler_catalogue import HandlerInfo, HandlerParam
from engine.services import catalogue
from engine.views import Actor
from tests.support.engine import DESIGNER


def test_every_builtin_handler_is_described_with_its_binding(ctx: EngineContext) -> None:
    entries = {e.name: e for e in catalogue.list_handlers(ctx, actor=DESIGNER)}
    assert {"careflow.notify", "careflow.complaint.record", "sales.record_sale"} <= set(entries)
    assert all(e.description_zh and e.description_en for e in entries.values()), \
        [n for n, e in entries.items() if not e.description_zh]
    record = entries["careflow.complaint.record"]
    assert record.processes == ("complaint_handling",) and record.writes_records
    assert [p.name for p in record.params if p.required] == ["case_no", "event"]
    assert entries["careflow.notify"].processes is None


def test_allowed_for_a_process_and_declared_info_wins(ctx: EngineContext) -> None:
    ctx.register_handler("bank.fx.rate", lambda p, c: {}, info=HandlerInfo(
        "查询汇率", "Look up an exchange rate", (HandlerParam("currency", "str", True, "币种", "currency"),)))
    entries = {e.name: e for e in catalogue.list_handlers(ctx, actor=DESIGNER, process_key="service_request")}
    assert not entries["careflow.complaint.record"].allowed
    assert entries["bank.fx.rate"].allowed and entries["bank.fx.rate"].description_en == "Look up an exchange rate"
    assert entries["bank.fx.rate"].params[0].name == "currency"


def test_staff_may_not_read_it(ctx: EngineContext) -> None:
    with pytest.raises(PermissionDeniedError):
        catalogue.list_handlers(ctx, actor=Actor("alice", frozenset({"staff"})))
