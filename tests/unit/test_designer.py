"""The designer's engine services: drafts, deploy from the modeler, versions, diff, heatmap, instance path."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.db.models import AuditEvent
from engine.errors import ConflictError, InvalidDefinitionError, InvalidInputError, PermissionDeniedError
from engine.services import definitions, designer, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks

FORM = {"id": "answer", "type": "default",
        "components": [{"type": "textfield", "key": "answer", "validate": {"required": True}}]}
GROUP = {"candidateGroups": "service_team"}


def test_drafts_are_saved_replaced_and_guarded_by_revision(ctx, people, clock):
    first = designer.save_draft(ctx, kind="process", name="req", content="<a/>", actor=people["dora"], base_version=3)
    assert (first.revision, first.base_version, first.updated_by) == (1, 3, "dora")
    clock.advance(timedelta(minutes=5))
    second = designer.save_draft(ctx, kind="process", name="req", content="<b/>", actor=people["root"], revision=1)
    assert (second.revision, second.content, second.base_version) == (2, "<b/>", 3)
    assert second.updated_at == first.updated_at + timedelta(minutes=5)
    with pytest.raises(ConflictError):  # dora still holds revision 1
        designer.save_draft(ctx, kind="process", name="req", content="<c/>", actor=people["dora"], revision=1)
    assert designer.get_draft(ctx, kind="process", name="req", actor=people["sam"]).content == "<b/>"
    with pytest.raises(PermissionDeniedError):
        designer.save_draft(ctx, kind="process", name="req", content="<d/>", actor=people["sam"])
    with pytest.raises(InvalidInputError):
        designer.save_draft(ctx, kind="form", name="f", content="{not json", actor=people["dora"])
    with pytest.raises(InvalidInputError):
        designer.save_draft(ctx, kind="process", name="../etc", content="<a/>", actor=people["dora"])
    designer.delete_draft(ctx, kind="process", name="req", actor=people["dora"])
    assert designer.list_drafts(ctx, actor=people["dora"]) == []


def test_deploy_from_the_modeler_brings_the_forms_and_drops_the_draft(ctx, people):
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", formKey="answer", **GROUP))),
           ("answer.json", json.dumps(FORM).encode()))
    designer.save_draft(ctx, kind="process", name="req", content="<wip/>", actor=people["dora"])
    xml = b.linear("req", b.user_task("write", formKey="answer", **GROUP), b.user_task("check", formKey="answer",
                                                                                       **GROUP)).decode()
    result = designer.deploy_from_modeler(ctx, xml=xml, actor=people["dora"])
    assert (result.created, result.definition.version) == (True, 2)
    assert sorted(result.definition.files) == ["answer.json", "req.bpmn"]
    assert designer.list_drafts(ctx, actor=people["dora"]) == []
    with ctx.sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.stream == "definition:req",
                                                           AuditEvent.after["version"].as_integer() == 2)).all()
    assert (event.actor, event.action) == ("dora", "definition.deployed")


def test_a_form_draft_is_deployed_with_the_process_that_names_it(ctx, people):
    changed = dict(FORM, components=[*FORM["components"], {"type": "number", "key": "amount"}])
    designer.save_draft(ctx, kind="form", name="answer", content=json.dumps(changed), actor=people["dora"])
    xml = b.linear("req", b.user_task("write", formKey="answer", **GROUP)).decode()
    result = designer.deploy_from_modeler(ctx, xml=xml, actor=people["dora"])
    assert sorted(result.definition.files) == ["answer.json", "req.bpmn"]
    stored = json.loads(definitions.get_definition_file(ctx, "req", 1, "answer.json"))
    assert [c["key"] for c in stored["components"]] == ["answer", "amount"]
    assert designer.get_form(ctx, "answer", actor=people["sam"])["components"][1]["key"] == "amount"
    assert [(f.form_id, f.source) for f in designer.list_forms(ctx, actor=people["dora"])] == [("answer", "draft")]


def test_unknown_form_from_the_modeler_is_a_problem_on_the_task(ctx, people):
    xml = b.linear("req", b.user_task("write", formKey="missing", **GROUP)).decode()
    with pytest.raises(InvalidDefinitionError) as info:
        designer.deploy_from_modeler(ctx, xml=xml, actor=people["dora"], validate_only=True)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.element_id) == ("req.bpmn", 3, "write")


def test_versions_with_instance_counts_and_xml(ctx, people):
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", **GROUP))))
    for _ in range(2):
        instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", **GROUP, priority="90"))))
    instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    versions = designer.list_versions(ctx, "req", actor=people["alice"])
    assert [(v.version, v.instance_count) for v in versions] == [(2, 1), (1, 2)]
    filename, text = designer.get_process_xml(ctx, "req", 1, actor=people["sam"])
    assert filename == "req.bpmn" and 'priority' not in text


def test_diff_names_added_removed_and_changed_elements(ctx, people):
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", **GROUP), b.script_task("calc", "x = 1"))))
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", **GROUP, priority="90"), b.script_task("calc", "x = 2"),
                                      b.user_task("approve", **GROUP))))
    diff = designer.diff_versions(ctx, "req", 1, 2, actor=people["sam"])
    assert {e.element_id for e in diff.added} == {"approve", "flow_calc_approve", "flow_approve_end"}
    assert {e.element_id for e in diff.removed} == {"flow_calc_end"}
    assert {(e.element_id, e.changes) for e in diff.changed} == {("write", ("extensionElements",)),
                                                               ("calc", ("script",))}
    same = designer.diff_versions(ctx, "req", 1, 1, actor=people["sam"])
    assert (same.added, same.removed, same.changed) == ((), (), ())


def test_heatmap_counts_and_mean_durations_per_user_task(ctx, people, clock):
    deploy(ctx, ("req.bpmn", b.linear("req", b.user_task("write", "写 Write", **GROUP),
                                      b.user_task("check", "查 Check", **GROUP))))
    started = [instances.start_instance(ctx, process_key="req", actor=SYSTEM) for _ in range(3)]
    for minutes, view in zip((10, 30), started, strict=False):
        clock.advance(timedelta(minutes=minutes))
        [task] = open_tasks(ctx, view.id)
        claim_and_complete(ctx, task.id, people["alice"])
    stats = {s.element_id: s for s in designer.heatmap(ctx, "req", None, actor=people["sam"])}
    assert (stats["write"].count, stats["write"].open, stats["write"].completed) == (3, 1, 2)
    assert stats["write"].avg_seconds == pytest.approx(1500.0)  # 10 min and 40 min after creation → 25 min
    assert (stats["check"].count, stats["check"].open, stats["check"].avg_seconds) == (2, 2, None)
    assert stats["write"].title == "写 Write"
    with pytest.raises(PermissionDeniedError):
        designer.heatmap(ctx, "req", None, actor=people["alice"])


def test_instance_path_shows_where_it_is_and_where_it_has_been(ctx, people):
    deploy(ctx, ("req.bpmn", b.linear("req", b.script_task("prepare", "x = 1"), b.user_task("write", **GROUP),
                                      b.user_task("check", **GROUP))))
    view = instances.start_instance(ctx, process_key="req", actor=SYSTEM)
    [task] = open_tasks(ctx, view.id)
    claim_and_complete(ctx, task.id, people["alice"])
    path = designer.instance_path(ctx, view.id, actor=people["dora"])
    assert (path.process_key, path.version, path.status) == ("req", 1, "running")
    assert path.current == ("check",)
    assert path.visited == {"start": 1, "prepare": 1, "write": 1}


def test_a_form_deployed_with_another_process_can_be_named(ctx, people):
    deploy(ctx, ("other.bpmn", b.linear("other", b.user_task("write", formKey="answer", **GROUP))),
           ("answer.json", json.dumps(FORM).encode()))
    xml = b.linear("req", b.user_task("reply", formKey="answer", **GROUP)).decode()
    result = designer.deploy_from_modeler(ctx, xml=xml, actor=people["dora"])
    assert (result.definition.key, sorted(result.definition.files)) == ("req", ["answer.json", "req.bpmn"])
    assert json.loads(definitions.get_definition_file(ctx, "req", 1, "answer.json")) == FORM
