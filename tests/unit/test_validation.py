"""One truth for validation: each CareFlow check at deploy names file, line, element and severity; warnings
never block a deploy; a bad due date met at run time (a version deployed before the checks) is an incident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.bpmn.loader import SourceFile, parse_bundle
from engine.bpmn.validation import Directory
from engine.errors import DefinitionProblem, InvalidDefinitionError
from engine.services import definitions, deploy_checks, designer, identity, instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.engine import DESIGNER, deploy

ROOT = Path(__file__).resolve().parents[2]
DEMO_GROUPS = {"service_team": 2, "customer_managers": 2, "front_desk": 1, "branch_team": 1, "revisit_team": 1,
               "compliance": 2, "supervisors": 1}
ENGINE = Directory(groups=DEMO_GROUPS, users={"alice"}, messages=deploy_checks.ENGINE_MESSAGES)


def _check(xml: bytes, directory: Directory | None = ENGINE, *extra: tuple[str, bytes]) -> list[DefinitionProblem]:
    """Every problem of a bundle (errors and warnings), as deploy sees them."""
    try:
        bundle = parse_bundle([SourceFile("p.bpmn", xml), *b.files(*extra)], handlers=(), directory=directory)
    except InvalidDefinitionError as exc:
        return exc.problems
    return bundle.warnings


def _one(problems: list[DefinitionProblem], element: str) -> DefinitionProblem:
    found = [p for p in problems if p.element_id == element]
    assert len(found) == 1, problems
    assert found[0].file == "p.bpmn" and found[0].line and found[0].line > 1
    return found[0]


def _task(**props: str) -> bytes:
    props.setdefault("candidateGroups", "service_team")
    return b.linear("p", b.user_task("work", **props))


def test_due_in_must_be_an_iso_duration():
    problem = _one(_check(_task(dueIn="three days")), "work")
    assert problem.severity == "error" and "dueIn 'three days' is not an ISO 8601 duration" in problem.message
    assert _check(_task(dueIn="P3D")) == [] and _check(_task(dueIn="PT4H30M")) == []
    assert _one(_check(_task(dueIn="P")), "work").severity == "error"


def test_due_in_workdays_must_be_a_whole_number():
    problem = _one(_check(_task(dueInWorkdays="three")), "work")
    assert problem.severity == "error" and "dueInWorkdays 'three'" in problem.message


def test_priority_out_of_range_is_an_error_not_clamped():
    problem = _one(_check(_task(priority="500")), "work")
    assert (problem.severity, problem.message) == ("error", "priority 500 is out of range 0–100")
    assert "whole number" in _one(_check(_task(priority="high")), "work").message
    assert _check(_task(priority="100")) == [] and _check(_task(priority="0")) == []


def test_unknown_candidate_group_is_a_warning_with_the_nearest_name():
    problem = _one(_check(_task(candidateGroups="service_teem")), "work")
    assert problem.severity == "warning"
    assert problem.message == "candidate group 'service_teem' does not exist; did you mean service_team?"


def test_group_without_an_active_member_is_a_warning():
    directory = Directory(groups={"night_team": 0}, users=set(), messages=set())
    problem = _one(_check(_task(candidateGroups="night_team"), directory), "work")
    assert (problem.severity, problem.message) == ("warning", "candidate group 'night_team' has no active member")


def test_unknown_candidate_user_is_a_warning():
    problem = _one(_check(_task(candidateGroups="", candidateUsers="mallory")), "work")
    assert problem.severity == "warning" and "candidate user 'mallory' does not exist" in problem.message
    assert _check(_task(candidateGroups="", candidateUsers="alice")) == []
    assert _check(_task(candidateGroups="", candidateUsers="${manager}")) == []  # known when the task is created


def test_a_user_task_nobody_can_claim_is_an_error():
    problem = _one(_check(_task(candidateGroups="", candidateUsers=" , ")), "work")
    assert problem.severity == "error" and problem.message.startswith("nobody can claim this task")
    several = _one([p for p in _check(_task(candidateGroups="ghosts", candidateUsers="mallory"))
                    if p.message.startswith("nobody")], "work")
    assert several.severity == "warning"


def test_a_lane_without_a_group_is_a_warning_naming_the_lane():
    xml = (b.linear("p", b.user_task("work")).replace(
        b'<bpmn:startEvent', b'<bpmn:laneSet id="ls"><bpmn:lane id="lane" name="night_shift">'
        b'<bpmn:flowNodeRef>work</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet><bpmn:startEvent', 1))
    problem = _one(_check(xml), "work")
    assert (problem.severity, problem.message) == ("warning", "lane 'night_shift' (its candidate group) does not exist")


def test_misspelt_careflow_property_is_an_error_with_a_suggestion():
    problem = _one(_check(_task(excludeUser="performers.get('sell')")), "work")
    assert problem.severity == "error"
    assert problem.message == "unknown CareFlow property 'excludeUser'; did you mean excludeUsers?"


def test_unknown_careflow_attribute_is_an_error_with_a_suggestion():
    xml = _task().replace(b'<bpmn:userTask id="work"', b'<bpmn:userTask careflow:nameEN="Work" id="work"').replace(
        b'xmlns:bpmn=', b'xmlns:careflow="http://careflow.example/schema/bpmn-i18n" xmlns:bpmn=', 1)
    problem = _one(_check(xml), "work")
    assert problem.message == "unknown CareFlow attribute careflow:nameEN; did you mean nameEn?"


def test_a_task_without_connections_is_an_error_at_its_line():
    xml = b.definitions("p", [b.start(), b.user_task("work", candidateGroups="service_team"),
                              b.user_task("lost", candidateGroups="service_team"), b.end()],
                        [b.flow("start", "work"), b.flow("work", "end")])
    problems = [p for p in _check(xml) if p.element_id == "lost"]
    assert [p.severity for p in problems] == ["error", "error"]
    assert "no incoming sequence flow" in problems[0].message and "no outgoing sequence flow" in problems[1].message
    assert problems[0].line == 3


def test_a_message_nobody_sends_is_a_warning():
    def waiting_for(name: str) -> bytes:
        return b.definitions("p", [b.start(), b.message_catch("wait", name, "got", "case_no"), b.end()],
                             [b.flow("start", "wait"), b.flow("wait", "end")], root=b.message_defs(name, "case_no"))
    problem = _one(_check(waiting_for("fax.received")), "wait")
    assert problem.severity == "warning" and "nobody sends message 'fax.received'" in problem.message
    assert _check(waiting_for("complaint.withdrawn")) == []  # a customer's act, sent by CareFlow


def test_a_condition_reading_a_mistyped_form_field_is_a_warning():
    form = {"id": "claim", "type": "default",
            "components": [{"type": "number", "key": "amount", "label": "金额 Amount"}]}
    xml = b.definitions(
        "p", [b.start(), b.user_task("fill", formKey="claim", candidateGroups="service_team"), b.gateway("big"),
              b.end(), b.end("e2")],
        [b.flow("start", "fill"), b.flow("fill", "big"), b.flow("big", "end", "ammount > 1000"),
         b.flow("big", "e2", "amount <= 1000")])
    problem = _one(_check(xml, ENGINE, ("claim.json", json.dumps(form).encode())), "big")
    assert problem.severity == "warning"
    assert problem.message == ("reads 'ammount', which nothing in this process sets (form 'claim' has a field like "
                               "it); did you mean amount?")


def test_warnings_do_not_block_a_deploy_and_the_validate_check_lists_them(ctx, people):
    xml = _task(candidateGroups="service_teem")
    warnings = definitions.check_definition(ctx, files=b.files(("p.bpmn", xml)), actor=DESIGNER)
    assert [(w.element_id, w.severity) for w in warnings] == [("work", "warning")]
    assert deploy(ctx, ("p.bpmn", xml)).version == 1
    with pytest.raises(InvalidDefinitionError) as info:  # errors block, and the warnings come with them
        designer.validate_from_modeler(ctx, xml=_task(candidateGroups="service_teem", priority="500").decode(),
                                       actor=people["dora"])
    assert sorted(p.severity for p in info.value.problems) == ["error", "warning"]


def test_the_directory_counts_active_members_and_granted_messages(ctx, people):
    identity.create_user(ctx, username="nora", roles=["staff"], groups=["night_team"])
    identity.update_user(ctx, "nora", actor=people["root"], active=False)
    found = deploy_checks.directory(ctx)
    assert found.groups["night_team"] == 0 and found.groups["service_team"] == 3  # alice, bob, sam
    assert "nora" not in found.users and "alice" in found.users
    assert "careflow.delivery" in found.messages


@pytest.mark.parametrize("bpmn", sorted((ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.stem)
def test_every_shipped_process_has_no_problem_with_the_demo_people(bpmn):
    others = [SourceFile(p.name, p.read_bytes()) for pattern in ("processes/*.dmn", "forms/*.json")
              for p in sorted(ROOT.glob(pattern))]
    bundle = parse_bundle([SourceFile(bpmn.name, bpmn.read_bytes()), *others], handlers=None)
    names = {t.operation_name for s in [bundle.spec, *bundle.subprocess_specs.values()] for t in s.task_specs.values()
             if getattr(t, "operation_name", None)}  # the handler allow-list is tested on its own
    checked = parse_bundle([SourceFile(bpmn.name, bpmn.read_bytes()), *others], handlers=names,
                           process_key=bundle.process_key, directory=ENGINE)
    assert checked.warnings == []


def test_a_bad_due_date_met_at_run_time_is_an_incident(ctx, people):
    """A version stored before deploys checked dueIn: loading it still works, the task it reaches fails loudly."""
    good = deploy(ctx, ("p.bpmn", _task(dueIn="P3D")))
    bad = parse_bundle([SourceFile("p.bpmn", _task(dueIn="three days"))], handlers=None)  # as a reload parses it
    ctx.specs.put(good.id, bad)
    started = instances.start_instance(ctx, process_key="p", actor=people["alice"])
    assert started.status == "error"
    assert started.error["message"] == ("user task work: dueIn 'three days' is not an ISO 8601 duration (it must "
                                        "start with P and give an amount); deploy a corrected version and migrate")
    assert instances.get_instance(ctx, started.id, actor=SYSTEM).status == "error"


@pytest.mark.parametrize(("elements", "flows", "element", "says"), [
    ([b.start(), '<bpmn:subProcess id="sub" name="Collapsed"/>', b.end()],
     [b.flow("start", "sub"), b.flow("sub", "end")], "sub", "a sub-process needs exactly one start event"),
    ([b.start(), '<bpmn:serviceTask id="call" name="Call the core"/>', b.end()],
     [b.flow("start", "call"), b.flow("call", "end")], "call", "names no CareFlow service handler"),
    ([b.start(), '<bpmn:task id="look" name="Look"/>', b.end("a"), b.end("b")],
     [b.flow("start", "look"), b.flow("look", "a"), b.flow("look", "b")], "look",
     "this task has several outgoing flows"),
    ([b.start(), b.gateway("gw"), b.end("a"), b.end("b")],
     [b.flow("start", "gw"), b.flow("gw", "a", "x > 1"), b.flow("gw", "b")], "flow_gw_b",
     "leaves an exclusive gateway with no condition and is not the gateway's default flow"),
])
def test_library_refusals_met_in_other_tools_models_say_what_to_do(elements, flows, element, says):
    """What drawing tools export (the BPMN MIWG suite) and SpiffWorkflow refuses, in CareFlow's words at the element."""
    problems = [p for p in _check(b.definitions("p", elements, flows)) if p.element_id == element]
    assert problems and says in problems[0].message, problems
    assert ".." not in problems[0].message and "SubWorkflow" not in problems[0].message
