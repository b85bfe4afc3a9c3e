"""processes/service_request.bpmn end to end, straight and with the rework loop and reminder."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lxml import etree

from engine.services import instances, tasks
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.support.engine import claim_and_complete, deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}


def _deploy(ctx):
    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("service_request_*.json"))]
    return deploy(ctx, *files)


def test_every_element_has_a_diagram_shape():
    tree = etree.parse(str(ROOT / "processes" / "service_request.bpmn"))
    elements = {e.get("id") for e in tree.xpath("//bpmn:process/*[@id] | //bpmn:lane | //bpmn:participant",
                                                namespaces=NS) if not e.tag.endswith("laneSet")}
    drawn = {e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)}
    assert elements == drawn


def test_small_request_closes_without_approval(ctx, people):
    _deploy(ctx)
    started = instances.start_instance(ctx, process_key="service_request", actor=people["alice"])
    [handle] = open_tasks(ctx, started.id)
    assert (handle.form_key, handle.candidate_groups, handle.lane) == ("service_request_handle", ("service_team",),
                                                                       "客服专员")
    claim_and_complete(ctx, handle.id, people["alice"], {"resolution": "已补发卡片", "amount": 100, "resolved": True})
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "completed"


def test_large_request_is_reworked_then_approved_with_a_reminder(ctx, people, clock):
    _deploy(ctx)
    started = instances.start_instance(ctx, process_key="service_request", actor=people["alice"])
    clock.advance(timedelta(days=1))
    assert fire_due_timers(ctx).fired == 1  # non-interrupting reminder: the task stays open
    [handle] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, handle.id, people["alice"], {"resolution": "退款", "amount": 80000})
    [approve] = open_tasks(ctx, started.id)
    assert approve.task_name == "approve_request" and approve.candidate_groups == ("supervisors",)
    claim_and_complete(ctx, approve.id, people["sam"], {"approved": False, "approval_comment": "补充材料"})
    [again] = open_tasks(ctx, started.id)
    assert again.task_name == "handle_request"
    claim_and_complete(ctx, again.id, people["bob"], {"resolution": "已补充", "amount": 80000})
    [approve] = open_tasks(ctx, started.id)
    claim_and_complete(ctx, approve.id, people["sam"], {"approved": True})
    view = instances.get_instance(ctx, started.id, actor=SYSTEM)
    assert view.status == "completed" and view.timers == []
    assert tasks.list_tasks(ctx, actor=people["sam"], view="archive").items[0].task_name == "approve_request"
