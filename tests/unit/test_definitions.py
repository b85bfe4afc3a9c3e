"""Deploying definitions: versions, hashing, and problems that name file, line and element."""

from __future__ import annotations

import json

import pytest

from engine.errors import InvalidDefinitionError, PermissionDeniedError
from engine.services import definitions, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import DESIGNER, deploy, open_tasks


def _problems(ctx, *pairs, **kw):
    with pytest.raises(InvalidDefinitionError) as info:
        definitions.deploy_definition(ctx, files=b.files(*pairs), actor=DESIGNER, **kw)
    return info.value.problems


def test_deploy_creates_versions_and_identical_bytes_change_nothing(ctx):
    first = definitions.deploy_definition(ctx, files=b.files(("simple.bpmn", b.simple_task_process())), actor=DESIGNER)
    again = definitions.deploy_definition(ctx, files=b.files(("simple.bpmn", b.simple_task_process())), actor=DESIGNER)
    changed = definitions.deploy_definition(
        ctx, files=b.files(("simple.bpmn", b.simple_task_process(priority="80"))), actor=DESIGNER
    )
    assert (first.created, first.definition.version) == (True, 1)
    assert (again.created, again.definition.version, again.definition.id) == (False, 1, first.definition.id)
    assert (changed.created, changed.definition.version) == (True, 2)
    assert changed.definition.sha256 != first.definition.sha256
    assert [d.version for d in definitions.list_definitions(ctx)] == [2]
    source = definitions.get_definition_file(ctx, "simple", 1, "simple.bpmn")
    assert source.encode() == b.simple_task_process()


def test_validate_only_stores_nothing(ctx):
    result = definitions.deploy_definition(
        ctx, files=b.files(("simple.bpmn", b.simple_task_process())), actor=DESIGNER, validate_only=True
    )
    assert result is None
    assert definitions.list_definitions(ctx) == []


def test_only_designers_deploy(ctx, people):
    with pytest.raises(PermissionDeniedError):
        definitions.deploy_definition(ctx, files=b.files(("s.bpmn", b.simple_task_process())), actor=people["alice"])
    assert definitions.list_definitions(ctx) == []


def test_malformed_xml_names_the_line(ctx):
    xml = b.simple_task_process().replace(b"</bpmn:process>", b"</bpmn:proces>")
    [problem] = _problems(ctx, ("broken.bpmn", xml))
    assert problem.file == "broken.bpmn"
    assert problem.line == 3
    assert "malformed XML" in problem.message


def test_schema_violation_names_the_line(ctx):
    xml = b.linear("p", '<bpmn:userTaskk id="oops"/>', ids=[])
    [problem] = _problems(ctx, ("bad.bpmn", xml))
    assert problem.line == 3 and problem.file == "bad.bpmn"
    assert "userTaskk" in problem.message


def test_flow_to_missing_element_is_reported(ctx):
    xml = b.definitions("p", [b.start(), b.end()], [b.flow("start", "nowhere")])
    problems = _problems(ctx, ("p.bpmn", xml))
    assert problems and problems[0].element_id in {"start", "flow_start_nowhere", "nowhere"}


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [("PT5X", "must be quoted"), ('"P2X"', "not a valid ISO 8601 duration"), ('"P"', "not a valid ISO 8601")],
)
def test_bad_timer_expression_names_the_element(ctx, expression, fragment):
    xml = b.definitions(
        "p",
        [b.start(), b.user_task("work"), b.timer_boundary("late", "work", "duration", expression), b.end(), b.end("e2")],
        [b.flow("start", "work"), b.flow("work", "end"), b.flow("late", "e2")],
    )
    [problem] = _problems(ctx, ("p.bpmn", xml))
    assert problem.element_id == "late"
    assert fragment in problem.message
    assert problem.line == 3


@pytest.mark.parametrize(
    ("script", "fragment"),
    [("x = 1\nimport os", "line 2"), ("y = ().__class__", "__class__"), ("x = = 1", "does not compile")],
)
def test_script_that_does_not_compile_names_the_element(ctx, script, fragment):
    [problem] = _problems(ctx, ("p.bpmn", b.linear("p", b.script_task("calc", script))))
    assert problem.element_id == "calc"
    assert fragment in problem.message


def test_bad_condition_names_the_gateway(ctx):
    xml = b.definitions(
        "p",
        [b.start(), b.gateway("choose", default="flow_choose_end"), b.end(), b.end("e2")],
        [b.flow("start", "choose"), b.flow("choose", "end"), b.flow("choose", "e2", "amount >")],
    )
    problems = _problems(ctx, ("p.bpmn", xml))
    assert [p.element_id for p in problems] == ["choose"]


def test_unknown_service_handler_and_missing_form_are_reported_together(ctx):
    xml = b.linear("p", b.service_task("lookup", "core.lookup", cid="customer_id"),
                   b.user_task("fill", formKey="no_such_form"))
    problems = _problems(ctx, ("p.bpmn", xml))
    assert {p.element_id for p in problems} == {"lookup", "fill"}
    assert any("core.lookup" in p.message for p in problems)
    assert any("no_such_form" in p.message for p in problems)


def test_bad_form_file_is_reported_and_good_form_is_accepted(ctx):
    xml = b.linear("p", b.user_task("fill", formKey="intake"))
    bad_form = {"id": "intake", "components": [{"type": "textfield", "key": "not valid"}]}
    problems = _problems(ctx, ("p.bpmn", xml), ("intake.json", json.dumps(bad_form).encode()))
    assert problems[0].file == "intake.json"
    good_form = {"id": "intake", "type": "default", "components": [{"type": "textfield", "key": "name"}]}
    view = deploy(ctx, ("p.bpmn", xml), ("intake.json", json.dumps(good_form).encode()))
    assert set(view.files) == {"p.bpmn", "intake.json"}


def test_bundle_without_or_with_several_executable_processes(ctx):
    none = b.simple_task_process().replace(b'isExecutable="true"', b'isExecutable="false"')
    assert "no executable process" in _problems(ctx, ("n.bpmn", none))[0].message
    two = [("a.bpmn", b.simple_task_process("a")), ("b.bpmn", b.simple_task_process("b"))]
    assert "several top-level processes" in _problems(ctx, *two)[0].message
    assert deploy(ctx, *two, process_key="b").key == "b"


def test_failed_parse_leaves_no_half_built_spec(ctx, people):
    """SpiffWorkflow caches a partial spec in a parser whose get_spec failed; we must not."""
    calls_dmn = b.linear("p", '<bpmn:businessRuleTask id="rate"><bpmn:extensionElements>'
                         "<spiffworkflow:calledDecisionId>tiers</spiffworkflow:calledDecisionId>"
                         "</bpmn:extensionElements></bpmn:businessRuleTask>",
                         b.user_task("after", candidateGroups="service_team"))
    problems = _problems(ctx, ("p.bpmn", calls_dmn))
    assert problems[0].element_id == "rate"
    dmn = (b'<?xml version="1.0" encoding="UTF-8"?>'
           b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">'
           b'<decision id="tiers" name="tiers"><decisionTable id="t" hitPolicy="UNIQUE">'
           b'<output id="o" name="tier" typeRef="string"/>'
           b'<rule id="r1"><outputEntry id="oe"><text>"gold"</text></outputEntry></rule>'
           b"</decisionTable></decision></definitions>")
    deploy(ctx, ("p.bpmn", calls_dmn), ("tiers.dmn", dmn))
    started = instances.start_instance(ctx, process_key="p", actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    assert task.task_name == "after"  # every task after the failure point is there


def test_spec_is_reparsed_from_the_database_when_not_cached(ctx, settings, db, clock):
    from engine.context import build_engine

    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    fresh = build_engine(settings, clock=clock, db=db)  # another process: empty cache
    started = instances.start_instance(fresh, process_key="simple", actor=SYSTEM)
    assert [t.task_name for t in open_tasks(fresh, started.id)] == ["review"]


def test_ids_and_names_too_long_for_their_columns_are_refused(ctx):
    long_id = "p" * 130
    with pytest.raises(InvalidDefinitionError, match="at most 100"):
        deploy(ctx, ("long.bpmn", b.linear(long_id, b.user_task("t"))))
    with pytest.raises(InvalidDefinitionError, match="element ids may have at most 200"):
        deploy(ctx, ("long.bpmn", b.linear("ok", b.user_task("t" * 210))))
