"""A test run of a draft in a throw-away database: path, data at the end, errors located, the live DB untouched."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.context import EngineContext
from engine.db.models import HumanTask, ProcessDefinition, ProcessInstance
from engine.db.session import unit_of_work
from engine.errors import InvalidDefinitionError, InvalidInputError, PermissionDeniedError
from engine.services import trial_run
from engine.views import Actor
from tests.support.bpmn import definitions, end, flow, gateway, script_task, service_task, start, timer_catch, user_task
from tests.support.engine import DESIGNER

STAFF = Actor("alice", frozenset({"staff"}))


def _approval_model() -> str:
    xml = definitions("trial_demo", [
        start(), script_task("score", "score = amount * 2"), gateway("big", default="flow_big_small"),
        user_task("review", "复核"), script_task("small", "route = 'small'"), end(),
    ], [
        flow("start", "score"), flow("score", "big"), flow("big", "review", "score > 100"), flow("big", "small"),
        flow("review", "end"), flow("small", "end"),
    ])
    return xml.decode("utf-8")


def _count(ctx: EngineContext, model: type) -> int:
    with unit_of_work(ctx.sessions, write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_runs_the_path_the_data_chooses_and_leaves_the_live_database_empty(ctx: EngineContext) -> None:
    result = trial_run.run_trial(ctx, xml=_approval_model(), actor=DESIGNER, variables={"amount": 80},
                                 answers={"review": {"decision": "ok"}})
    assert result.status == "completed"
    assert result.visited["review"] == 1 and "small" not in result.visited
    assert [t.element_id for t in result.tasks] == ["review"]
    assert result.path == ("start", "score", "big", "review", "end")
    assert result.variables["score"] == 160 and result.variables["decision"] == "ok"
    assert _count(ctx, ProcessDefinition) == 0 and _count(ctx, ProcessInstance) == 0 and _count(ctx, HumanTask) == 0

    other = trial_run.run_trial(ctx, xml=_approval_model(), actor=DESIGNER, variables={"amount": 10})
    assert other.status == "completed" and "small" in other.visited and "review" not in other.visited
    assert other.variables["route"] == "small"


def test_a_script_error_is_the_result_with_its_element(ctx: EngineContext) -> None:
    result = trial_run.run_trial(ctx, xml=_approval_model(), actor=DESIGNER, variables={})
    assert result.status == "error"
    assert result.error_element == "score" and result.error
    assert "score" in result.failed


def test_stops_at_a_timer_and_at_the_step_limit(ctx: EngineContext) -> None:
    waiting = definitions("trial_wait", [start(), timer_catch("wait", "duration", "'PT1H'"), end()],
                          [flow("start", "wait"), flow("wait", "end")]).decode()
    result = trial_run.run_trial(ctx, xml=waiting, actor=DESIGNER)
    assert result.status == "waiting" and result.current == ("wait",)

    loop = definitions("trial_loop", [start(), user_task("again"), gateway("more", default="flow_more_end"), end()],
                       [flow("start", "again"), flow("again", "more"), flow("more", "again", "True"),
                        flow("more", "end")]).decode()
    result = trial_run.run_trial(ctx, xml=loop, actor=DESIGNER, max_steps=3)
    assert result.status == "step_limit" and len(result.tasks) == 3 and result.visited["again"] == 3


def test_integration_handlers_are_answered_by_a_stub_not_called(ctx: EngineContext) -> None:
    calls: list[object] = []
    ctx.register_handler("bank.core.transfer", lambda params, call: calls.append(params) or {"ok": True})
    xml = definitions("trial_service", [start(), service_task("pay", "bank.core.transfer", amount="1"), end()],
                      [flow("start", "pay"), flow("pay", "end")]).decode()
    result = trial_run.run_trial(ctx, xml=xml, actor=DESIGNER)
    assert result.status == "completed" and calls == []
    assert result.simulated_handlers == ("bank.core.transfer",)


def test_refusals(ctx: EngineContext) -> None:
    with pytest.raises(PermissionDeniedError):
        trial_run.run_trial(ctx, xml=_approval_model(), actor=STAFF)
    with pytest.raises(InvalidInputError):
        trial_run.run_trial(ctx, xml=_approval_model(), actor=DESIGNER, answers={"review": "yes"})  # type: ignore[dict-item]
    with pytest.raises(InvalidDefinitionError):
        trial_run.run_trial(ctx, xml="<not-bpmn/>", actor=DESIGNER)
