"""Interchange: the JUEL/FEEL subset, FEEL unary tests, ISO-8601 timer literals firing on the injected clock,
Camunda mappings at run time, and what the importer does with odd files (never a server error)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from engine.bpmn.expressions import UntranslatableError, feel_unary_test, translate
from engine.bpmn.interchange import prepare_bpmn
from engine.bpmn.timers import iso_literal
from engine.services import identity, instances
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from scripts.interchange_report import deploy, manifest
from tests.support import bpmn as b
from tests.support.engine import deploy as deploy_files
from tests.support.engine import open_tasks
from web import create_app

# The table in docs/interchange.md, pinned.
TRANSLATED = [
    ("${amount > 1000}", "amount > 1000"),
    ("= amount > 1000", "amount > 1000"),
    ("#{approved}", "approved"),
    ("${a.b.c == 'x'}", "a['b']['c'] == 'x'"),
    ("${amount >= 10 && !blocked || vip}", "amount >= 10 and not blocked or vip"),
    ("${x eq 1 and y ne 2 or z lt 3 or w ge 4}", "x == 1 and y != 2 or z < 3 or w >= 4"),
    ("${(price * qty - discount) / 2 % 7 <= limit}", "( price * qty - discount ) / 2 % 7 <= limit"),
    ('= status = "open" and not(closed)', "status == 'open' and not ( closed )"),
    ("= score != 3.5 or flag = false or owner = null", "score != 3.5 or flag == False or owner == None"),
    ("${true}", "True"),
    ("amount > 5", "amount > 5"),  # CareFlow's own Python: unchanged
]
REFUSED = [
    ("${orderService.isValid(order)}", "orderService.isValid("),
    ("${empty order.lines}", "empty order.lines"),
    ("${a ? b : c}", "? b : c"),
    ("Total: ${a} of ${b}", None),
    ("${a} and ${b}", "${a} and ${b}"),
    ("= date(x) > today()", "date("),
    ("= items[1]", "[1]"),
    ("${a = 1}", "a = 1"),
    ("${__class__}", "__class__"),
    ("= a && b", "&&"),
]


@pytest.mark.parametrize(("text", "python"), TRANSLATED)
def test_the_stated_subset_translates(text, python):
    assert translate(text) == python


@pytest.mark.parametrize(("text", "offending"), REFUSED)
def test_anything_else_is_refused_with_the_offending_text(text, offending):
    if offending is None:  # composite text is not an expression at all: stays CareFlow Python, fails its compile check
        assert translate(text) == text
        return
    with pytest.raises(UntranslatableError) as raised:
        translate(text)
    assert offending in raised.value.text


@pytest.mark.parametrize(("test", "matches", "misses"), [
    ("< 300", [299], [300]),
    ("<= 300", [300], [301]),
    ("[300..700[", [300, 699], [299, 700]),
    ("]1..10]", [2, 10], [1, 11]),
    ('"blocked","sanctioned"', ["blocked", "sanctioned"], ["retail"]),
    ('not("private")', ["retail"], ["private"]),
    ("not(< 5)", [5, 9], [4]),
    ('"gold"', ["gold"], ["silver"]),
    ("-", [1, "x"], []),
])
def test_feel_unary_tests_match_like_feel(test, matches, misses):
    expression = feel_unary_test(test)
    if expression is None:
        assert test in ("-", "")
        return
    for value, expected in [(v, True) for v in matches] + [(v, False) for v in misses]:
        python = expression.replace("?", "value") if "?" in expression else f"value == ({expression})"
        assert eval(python, {}, {"value": value}) is expected, (test, value)  # noqa: S307 - a fixed test expression


@pytest.mark.parametrize(("kind", "text", "quoted"), [
    ("duration", "PT1H", '"PT1H"'), ("duration", "P3D", '"P3D"'), ("duration", "cooling_off", None),
    ("date", "2026-12-08T09:00:00+08:00", '"2026-12-08T09:00:00+08:00"'), ("date", "2026-12-08", '"2026-12-08"'),
    ("cycle", "R3/PT10M", '"R3/PT10M"'), ("cycle", "R/2026-12-08T09:00:00Z/P1D", '"R/2026-12-08T09:00:00Z/P1D"'),
    ("duration", '"PT5M"', None), ("duration", "P", None),
])
def test_iso_literals_are_quoted_and_names_left_alone(kind, text, quoted):
    assert iso_literal(kind, text) == quoted


def test_cron_cycles_are_refused_with_a_message():
    with pytest.raises(ValueError, match="cron expressions are not supported"):
        iso_literal("cycle", "0 0 9 * * ?")


# --- ISO literals fire at the right time (the injected clock) ---------------------------------------------------------

def _timer_process(pid, kind, literal, *, cycle=False):
    if cycle:
        return b.definitions(pid, [b.start(), b.user_task("work", candidateGroups="service_team"),
                                   b.timer_boundary("tick", "work", kind, literal, cancel=False),
                                   b.user_task("chase", candidateGroups="service_team"), b.end(), b.end("e2")],
                             [b.flow("start", "work"), b.flow("work", "end"), b.flow("tick", "chase"),
                              b.flow("chase", "e2")])
    return b.linear(pid, b.timer_catch("wait", kind, literal), b.user_task("after", candidateGroups="service_team"))


@pytest.mark.parametrize(("kind", "literal", "due"), [
    ("duration", "PT1H", timedelta(hours=1)),
    ("duration", "P3D", timedelta(days=3)),
    ("date", "2025-03-04T09:00:00+08:00", datetime(2025, 3, 4, 1, 0, tzinfo=UTC)),
    ("date", "2025-03-05T12:00:00", datetime(2025, 3, 5, 4, 0, tzinfo=UTC)),  # naive: the bank's zone
])
def test_iso_timer_literals_fire_exactly_when_due(ctx, clock, kind, literal, due):
    deploy_files(ctx, ("t.bpmn", _timer_process("iso_timer", kind, literal)))
    started = instances.start_instance(ctx, process_key="iso_timer", actor=SYSTEM)
    due_at = clock.now() + due if isinstance(due, timedelta) else due
    [timer] = instances.get_instance(ctx, started.id, actor=SYSTEM).timers
    assert timer.due_at == due_at
    clock.set(due_at - timedelta(seconds=1))
    assert fire_due_timers(ctx).fired == 0 and open_tasks(ctx, started.id) == []
    clock.set(due_at)
    assert fire_due_timers(ctx).fired == 1
    assert [t.task_name for t in open_tasks(ctx, started.id)] == ["after"]


def test_an_iso_cycle_literal_fires_its_number_of_times(ctx, clock):
    deploy_files(ctx, ("c.bpmn", _timer_process("iso_cycle", "cycle", "R3/PT10M", cycle=True)))
    started = instances.start_instance(ctx, process_key="iso_cycle", actor=SYSTEM)
    fired = []
    for _ in range(5):
        clock.advance(timedelta(minutes=10))
        fired.append(fire_due_timers(ctx).fired)
    assert fired == [1, 1, 1, 0, 0]
    assert sorted(t.task_name for t in open_tasks(ctx, started.id)) == ["chase", "chase", "chase", "work"]


# --- Camunda mappings at run time -----------------------------------------------------------------------------------

def test_camunda_assignee_and_due_date_apply_to_the_task(ctx, clock, people):
    key = deploy(ctx, "c7_01_user_task_assignee.bpmn", manifest()["c7_01_user_task_assignee.bpmn"])
    started = instances.start_instance(ctx, process_key=key, actor=SYSTEM)
    [task] = open_tasks(ctx, started.id)
    assert (task.task_name, task.assignee, task.candidate_users) == ("Activity_review", "alice", ("alice",))
    assert task.due_at == clock.now() + timedelta(days=3) and task.priority == 70


def test_mappings_and_translations_are_reported():
    root = etree.fromstring(_fixture("c7_05_input_output.bpmn"))
    report = prepare_bpmn(root)
    assert "check_address: preScript = channel = 'branch'; attempts = 3; city = request['address']['city']" \
        in report.mapped
    assert "check_address: postScript = verified = address_ok" in report.mapped
    assert "check_address: dueIn = P2D" in report.mapped
    assert [f.message for f in report.ignored if f.element_id == "check_address"] == [
        "property color ignored (not used by CareFlow)"]
    assert report.refused == []


def test_a_mapping_outside_the_subset_is_refused_where_it_is():
    xml = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           b'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">\n<bpmn:process id="p">\n'
           b'<bpmn:userTask id="t"><bpmn:extensionElements><camunda:inputOutput>\n'
           b'<camunda:inputParameter name="x"><camunda:script scriptFormat="groovy">1</camunda:script>'
           b'</camunda:inputParameter>\n</camunda:inputOutput></bpmn:extensionElements></bpmn:userTask>\n'
           b'<bpmn:serviceTask id="s" camunda:type="mail"/></bpmn:process></bpmn:definitions>')
    refused = {(f.line, f.element_id, f.message.split(": ")[0]) for f in prepare_bpmn(etree.fromstring(xml)).refused}
    assert refused == {(4, "t", "extension <camunda:inputOutput> inputParameter x"),
                       (6, "s", 'camunda:type="mail"')}


@pytest.mark.parametrize("namespace", ["http://activiti.org/bpmn", "http://flowable.org/bpmn"])
def test_activiti_and_flowable_extensions_are_read_as_camunda_7s(namespace):
    """Both forks share Camunda 7's names: an assignee is mapped and a Java class refused, not silently dropped
    (MIWG Reference C.1.0 binds the prefix camunda: to Activiti's namespace)."""
    xml = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           b'xmlns:x="' + namespace.encode() + b'" id="d">\n<bpmn:process id="p">\n'
           b'<bpmn:userTask id="t" x:candidateGroups="service_team" x:formKey="review"/>\n'
           b'<bpmn:serviceTask id="s" x:class="org.example.Post"/></bpmn:process></bpmn:definitions>')
    report = prepare_bpmn(etree.fromstring(xml))
    assert {"t: candidateGroups = service_team", "t: formKey = review"} <= set(report.mapped), report.mapped
    assert [(f.line, f.element_id) for f in report.refused] == [(4, "s")]
    assert "Java delegate class" in report.refused[0].message
    assert not [f for f in report.ignored if f.element_id == "t"]


def test_camunda_modeler_relation_metadata_is_ignored_not_refused():
    xml = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           b'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">\n'
           b'<bpmn:process id="p" camunda:diagramRelationId="4b2e"><bpmn:startEvent id="s"/></bpmn:process>'
           b'</bpmn:definitions>')
    report = prepare_bpmn(etree.fromstring(xml))
    assert report.refused == [] and [f.element_id for f in report.ignored] == ["p"]


def _fixture(name):
    from scripts.interchange_report import FIXTURES

    return (FIXTURES / name).read_bytes()


# --- importing odd files: 4xx with where, never a 5xx ----------------------------------------------------------------

@pytest.fixture
def client(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx).test_client()


@pytest.fixture
def dora(ctx, people):
    return {"Authorization": f"Bearer {identity.create_token(ctx, username='dora')}"}


def _draft(client, headers, content: bytes, query: str = "as_draft=1", name: str = "odd.bpmn"):
    return client.post(f"/api/v1/designer/import?{query}", data={"file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data", headers=headers)


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
          b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><bpmn:definitions '
          b'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</bpmn:definitions>')
EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>')


@pytest.mark.parametrize(("content", "line", "fragment"), [
    (b'<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">\n<x>',
     3, "malformed XML"),
    (b"", None, "empty"),
    (b"\xff\xfe\x00garbage", 1, "malformed XML"),
    (b'<?xml version="1.0"?><html/>', 1, "not a BPMN 2.0 document"),
    (LAUGHS, 1, None),
    (EXTERNAL, 1, None),
    (b'<definitions xmlns="http://www.omg.org/spec/DMN/20191111/MODEL/"/>', 1, "not a BPMN 2.0 document"),
])
def test_a_file_that_is_not_well_formed_bpmn_is_a_400_with_its_line(client, dora, content, line, fragment):
    response = _draft(client, dora, content)
    assert response.status_code == 400, response.get_data(as_text=True)
    [problem] = response.json["error"]["details"]["problems"]
    assert problem["file"] == "odd.bpmn" and problem["line"] == line
    if fragment:
        assert fragment in problem["message"]
    assert "root:" not in response.get_data(as_text=True)  # no entity was expanded


def test_a_huge_file_is_refused_before_it_is_parsed(client, dora):
    from engine.errors import InvalidDefinitionError
    from engine.services import model_import

    head = '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
    huge = head + "<!--" + "x" * (2 * 1024 * 1024) + "--></bpmn:definitions>"
    response = client.post("/api/v1/designer/import?as_draft=1", json={"filename": "huge.bpmn", "content": huge},
                           headers=dora)
    assert response.status_code == 400
    with pytest.raises(InvalidDefinitionError, match="larger than"):
        model_import.read_bpmn("huge.bpmn", huge.encode())


def test_truncated_files_never_cause_a_server_error(client, dora):
    content = _fixture("c7_02_juel_gateway.bpmn")
    for cut in range(0, len(content), max(1, len(content) // 40)):
        broken = content[:cut] + b"<broken" * (cut % 2)
        response = _draft(client, dora, broken)
        assert response.status_code in (201, 400), (cut, response.get_data(as_text=True))
        deployed = _draft(client, dora, broken, "validate_only=1")
        assert deployed.status_code in (200, 422), (cut, deployed.get_data(as_text=True))


def test_the_process_parameter_chooses_the_pool(client, dora, ctx):
    content = _fixture("signavio_two_pools.bpmn")
    opened = _draft(client, dora, content).json
    assert (opened["process_key"], opened["ambiguous"]) == ("sid-branch", True)
    assert opened["candidates"] == ["sid-branch", "sid-backoffice"] and not opened["deployable"]
    chosen = _draft(client, dora, content, "as_draft=1&process=sid-backoffice").json
    assert (chosen["process_key"], chosen["was_executable"], chosen["must_fix"]) == ("sid-backoffice", False, [])
    asked = _draft(client, dora, content, "")
    assert asked.status_code == 422
    assert "several pools could run (sid-branch, sid-backoffice)" in asked.json["error"]["details"]["problems"][0][
        "message"]
    assert _draft(client, dora, content, "process=sid-backoffice").status_code == 201
    assert _draft(client, dora, content, "as_draft=1&process=nope").status_code == 400


def test_only_designers_import_drafts(client, ctx, people):
    alice = {"Authorization": f"Bearer {identity.create_token(ctx, username='alice')}"}
    assert _draft(client, alice, _fixture("aris_claims.bpmn")).status_code == 403


def test_a_camunda_extension_with_no_element_to_map_it_to_is_refused_at_the_definitions():
    xml = (b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           b'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs">\n<bpmn:extensionElements>'
           b'<zeebe:taskDefinition type="x"/></bpmn:extensionElements><bpmn:process id="p"/></bpmn:definitions>')
    [refused] = prepare_bpmn(etree.fromstring(xml)).refused
    assert (refused.line, refused.element_id) == (2, "defs")


def test_a_prefix_used_only_inside_an_attribute_value_keeps_its_declaration() -> None:
    """MIWG Reference C.9.0 declares ``feel`` only for ``structureRef="feel:string"``: dropping the declaration made
    a valid file fail the schema with a false must-fix."""
    from lxml import etree

    from engine.bpmn.interchange import prepare_bpmn

    root = etree.fromstring(
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
        b' xmlns:feel="http://www.omg.org/spec/FEEL/20140401" xmlns:unused="urn:unused" id="d" targetNamespace="t">'
        b'<bpmn:itemDefinition id="item" structureRef="feel:string"/>'
        b'<bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>')
    prepare_bpmn(root)
    assert root.nsmap.get("feel") == "http://www.omg.org/spec/FEEL/20140401"
    assert "unused" not in root.nsmap  # what nothing uses still goes


# --- pools: candidates are the participants' processes; the others are not run and their problems not must-fix ------

TWO_POOLS = b'''<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="two" targetNamespace="t">
  <bpmn:collaboration id="c">
    <bpmn:participant id="pa" name="Front" processRef="front"/>
    <bpmn:participant id="pb" name="Back" processRef="back"/>
  </bpmn:collaboration>
  <bpmn:process id="front" isExecutable="false">
    <bpmn:startEvent id="fs"/><bpmn:task id="ft"/><bpmn:endEvent id="fe"/>
    <bpmn:sequenceFlow id="f1" sourceRef="fs" targetRef="ft"/><bpmn:sequenceFlow id="f2" sourceRef="ft" targetRef="fe"/>
  </bpmn:process>
  <bpmn:process id="back" isExecutable="false">
    <bpmn:startEvent id="bs"/>
    <bpmn:complexGateway id="bg"/>
    <bpmn:task id="lost"/>
    <bpmn:endEvent id="be"/>
    <bpmn:sequenceFlow id="b1" sourceRef="bs" targetRef="bg"/><bpmn:sequenceFlow id="b2" sourceRef="bg" targetRef="be"/>
  </bpmn:process>
</bpmn:definitions>'''


def test_the_candidates_are_the_pools_and_a_process_in_no_pool_is_dropped():
    from engine.bpmn.interchange import choose_process

    b10 = etree.fromstring(_fixture("miwg_b10_pools_and_called_processes.bpmn"))
    choice = choose_process(b10)
    # the two processes that call activities call are in no pool: neither a candidate nor dropped
    assert (choice.candidates, choice.ambiguous, choice.dropped) == (("WFP-branch", "WFP-backoffice"), True, ())
    c90 = etree.fromstring(_fixture("miwg_c90_stray_process.bpmn"))
    choice = choose_process(c90)
    assert (choice.process_id, choice.candidates, choice.ambiguous) == ("Process_card_request",
                                                                        ("Process_card_request",), False)
    assert choice.dropped == ("Diagram_card_request_process",)
    lone = etree.fromstring(b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
                            b'<bpmn:process id="p"><bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>')
    assert choose_process(lone).candidates == ("p",)  # no collaboration: the lone process


def test_a_stray_process_is_listed_as_dropped_not_as_a_choice_or_a_must_fix(client, dora):
    opened = _draft(client, dora, _fixture("miwg_c90_stray_process.bpmn"), name="c90.bpmn").json
    assert (opened["process_key"], opened["ambiguous"], opened["candidates"]) == (
        "Process_card_request", False, ["Process_card_request"])
    assert opened["must_fix"] == [] and opened["deployable"]
    dropped = {(d["element_id"], d["message"].split(":")[0]) for d in opened["dropped"]}
    assert ("Diagram_card_request_process", "process Diagram_card_request_process ('Card request diagram') is not "
            "run") in dropped
    assert ("stray_end", "not run (Diagram_card_request_process)") in dropped
    assert all(d["severity"] == "warning" for d in opened["dropped"])


def test_the_problems_of_a_pool_not_chosen_are_dropped_not_must_fix_and_the_chosen_one_deploys(client, dora):
    opened = _draft(client, dora, TWO_POOLS, "as_draft=1&process=front", name="two.bpmn").json
    assert opened["must_fix"] == [] and opened["deployable"], opened["must_fix"]
    dropped: dict[str, str] = {}
    for d in opened["dropped"]:
        dropped[d["element_id"]] = dropped.get(d["element_id"], "") + d["message"]
    assert dropped["back"].startswith("process back is not run: a pool that was not chosen")
    assert "complexGateway" in dropped["bg"] and "no incoming sequence flow" in dropped["lost"]
    deployed = _draft(client, dora, TWO_POOLS, "process=front", name="two.bpmn")
    assert deployed.status_code == 201, deployed.get_data(as_text=True)
    assert {d["element_id"] for d in deployed.json["dropped"]} >= {"back", "bg", "lost"}
    # the chosen pool's own problems still are must-fix
    other = _draft(client, dora, TWO_POOLS, "as_draft=1&process=back", name="two.bpmn").json
    assert {p["element_id"] for p in other["must_fix"]} >= {"bg", "lost"}
    assert [d["element_id"] for d in other["dropped"]] == ["front"]


def test_a_library_message_is_whole_even_with_a_line_break_in_a_name(client, dora):
    """A Trisotech/Visio name with ``&#10;`` cut SpiffWorkflow's message at the break ("Data Store with name Case")."""
    opened = _draft(client, dora, _fixture("miwg_b10_pools_and_called_processes.bpmn"),
                    "as_draft=1&process=WFP-backoffice", name="b10.bpmn").json
    messages = [p["message"] for p in opened["must_fix"]]
    assert "data store 'Case Archive' has no implementation in CareFlow" in " ".join(messages), messages
    assert [d["element_id"] for d in opened["dropped"]] == ["WFP-branch"]


def test_a_problem_message_is_bounded():
    from engine.errors import MAX_PROBLEM_MESSAGE, DefinitionProblem

    long = DefinitionProblem("f.bpmn", 1, "x", "y" * 5000)
    assert len(long.message) == MAX_PROBLEM_MESSAGE and long.message.endswith("…")
    assert DefinitionProblem("f.bpmn", 1, "x", "z" * 1999).message == "z" * 1999


def test_when_every_pool_is_empty_a_process_in_no_pool_is_still_a_candidate():
    from engine.bpmn.interchange import choose_process

    root = etree.fromstring(
        b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">'
        b'<bpmn:collaboration id="c"><bpmn:participant id="p1" processRef="empty"/></bpmn:collaboration>'
        b'<bpmn:process id="empty"/><bpmn:process id="work"><bpmn:startEvent id="s"/></bpmn:process>'
        b'</bpmn:definitions>')
    choice = choose_process(root)
    assert (choice.process_id, choice.candidates, choice.dropped) == ("work", ("work",), ())
