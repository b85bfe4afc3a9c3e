"""The process designer in a real browser: open a deployed process, add a user task with a form, see the
engine's validation problem on the diagram, fix it, deploy version 2, start it, and read the heatmap.

Also the round trip: a deployed process opened and saved by the modeler (bpmn-js with CareFlow's
``spiffworkflow`` moddle extension) loses nothing the engine reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from engine.bpmn.loader import SourceFile, parse_bundle
from engine.bpmn.xmldiff import diff_bpmn
from engine.services import definitions, designer, instances
from engine.views import SYSTEM
from tests.support.engine import DESIGNER, claim_and_complete, deploy, open_tasks

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
PROCESS = "service_request"


BUNDLES = {
    "service_request": ["processes/service_request.bpmn", "forms/service_request_*.json"],
    "complaint_handling": ["processes/complaint_handling.bpmn", "processes/complaint_routing.dmn",
                           "forms/complaint_*.json"],
}


def _bundle(key: str) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for pattern in BUNDLES[key] for p in sorted(ROOT.glob(pattern))]


@pytest.fixture
def deployed(ctx):
    return deploy(ctx, *_bundle(PROCESS))


def _open_modeler(page: Page, live_server: str, key: str = PROCESS) -> None:
    page.goto(f"{live_server}/designer")
    page.locator(f'tr[data-process="{key}"] a.open-modeler').click()
    expect(page.locator("body[data-modeler-ready='1']")).to_have_count(1)


def _modeler_xml(page: Page) -> str:
    return str(page.evaluate("window.careflowModeler.saveXML({format: true}).then((r) => r.xml)"))


def _shape_center(page: Page, element_id: str) -> tuple[float, float]:
    box = page.locator(f'.djs-element[data-element-id="{element_id}"]').first.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _add_user_task(page: Page, flow_id: str, name: str, form_key: str) -> str:
    """Drop a new task on ``flow_id`` (bpmn-js splits the flow), make it a user task for service_team; its id."""
    page.locator('.djs-palette [data-action="create.task"]').click()
    x, y = _shape_center(page, flow_id)
    page.mouse.move(x - 5, y)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    # diagram-js opens its popup on the click event alone (a real press also starts a drag of the pad entry)
    page.locator('.djs-context-pad [data-action="replace"]').dispatch_event("click")
    page.locator('.djs-popup [data-id="replace-with-user-task"]').dispatch_event("click")
    new_id = str(page.evaluate("window.careflowModeler.get('selection').get()[0].id"))
    assert new_id.startswith("Activity_")
    page.locator('[data-group-id="group-general"] .bio-properties-panel-group-header').click()
    page.fill("#bio-properties-panel-name", name)
    page.fill("#bio-properties-panel-careflow-formKey", form_key)
    page.fill("#bio-properties-panel-careflow-candidateGroups", "service_team")
    return new_id


def _problem_shown(page: Page, element_id: str, message: str) -> Any:
    """Validate; the engine's problem is listed for the element and marked on the diagram."""
    page.click("#validate")
    problem = page.locator(f'#problems li[data-element-id="{element_id}"]')
    expect(problem).to_contain_text(message)
    expect(page.locator(f'.djs-element.cf-problem[data-element-id="{element_id}"]')).to_have_count(1)
    return problem


@pytest.mark.parametrize("key", sorted(BUNDLES))
def test_a_deployed_process_round_trips_through_the_modeler(page, login, live_server, ctx, key):
    bundle = _bundle(key)
    deploy(ctx, *bundle)
    login("dora")
    _open_modeler(page, live_server, key)
    expect(page.locator("#status")).to_have_text("")  # no import warnings: every extension element is known
    saved = _modeler_xml(page)
    original = bundle[0][1].decode("utf-8")
    changes = diff_bpmn(original, saved)
    assert (changes.added, changes.removed, changes.changed) == ((), (), ())
    others = [SourceFile(name, content) for name, content in bundle[1:]]
    before = parse_bundle([SourceFile(bundle[0][0], original.encode()), *others], handlers=None)
    after = parse_bundle([SourceFile(bundle[0][0], saved.encode()), *others], handlers=None)
    for one, twin in [(before.spec, after.spec), *((before.subprocess_specs[k], after.subprocess_specs[k])
                                                   for k in before.subprocess_specs)]:
        assert sorted(one.task_specs) == sorted(twin.task_specs)
        for name, spec in one.task_specs.items():
            other = twin.task_specs[name]
            for attribute in ("extensions", "script", "operation_name", "operation_params", "lane"):
                assert getattr(other, attribute, None) == getattr(spec, attribute, None), (name, attribute)
    # and the engine deploys the saved diagram as the next version
    result = definitions.deploy_definition(ctx, files=[SourceFile(bundle[0][0], saved.encode()), *others],
                                           actor=DESIGNER)
    assert result is not None and result.definition.version == 2


def test_designer_adds_a_task_fixes_a_problem_deploys_and_sees_the_heatmap(page, login, live_server, deployed, ctx,
                                                                         people):
    login("dora")
    expect(page.locator("#nav-designer")).to_have_text("设计")
    _open_modeler(page, live_server)

    # A new task dropped on the flow from the approval gateway to closing (split in two), made a user task.
    new_id = _add_user_task(page, "Flow_no_approval", "回访确认 Confirm with the customer", "service_request_confirm")
    problem = _problem_shown(page, new_id, "form 'service_request_confirm' is not deployed")
    page.screenshot(path=str(SCREENSHOTS / "designer_problem.png"), full_page=True)

    # Fix it: a form that exists; validate, then deploy version 2.
    problem.click()  # selects the element it names
    page.fill("#bio-properties-panel-careflow-formKey", "service_request_handle")
    page.click("#validate")
    expect(page.locator("#status")).to_have_text("校验通过")
    expect(page.locator(".djs-element.cf-problem")).to_have_count(0)
    page.click("#deploy")  # a deploy shows its summary and asks first
    page.click("#deploy-confirm")
    expect(page.locator("#status")).to_have_text("已部署版本 2")

    # Start an instance of version 2 from the versions page; it waits in the first task.
    page.locator("#deployed-link").click()
    expect(page.locator('#versions tr[data-version="2"] td.instances')).to_have_text("0")
    page.select_option("#start-form select[name=version]", "2")
    page.click("#start-instance")
    expect(page.locator("#instance-status")).to_have_attribute("data-status", "running")
    expect(page.locator("#current")).to_have_text("handle_request, reminder")  # the 1-day reminder timer waits too
    expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
    expect(page.locator('.djs-element.cf-current[data-element-id="handle_request"]')).to_have_count(1)

    # Two more instances; two of the three handled (amount below the approval limit) → the new task.
    started = [instances.start_instance(ctx, process_key=PROCESS, actor=SYSTEM) for _ in range(2)]
    for view in started:
        [task] = open_tasks(ctx, view.id)
        claim_and_complete(ctx, task.id, people["alice"], {"resolution": "已处理", "amount": 100})
    [new_task] = open_tasks(ctx, started[0].id)
    assert (new_task.task_name, new_task.title, new_task.form_key) == (
        new_id, "回访确认 Confirm with the customer", "service_request_handle")
    page.goto(f"{live_server}/designer/processes/{PROCESS}/heatmap?version=2")
    expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
    expect(page.locator('.cf-heat[data-element="handle_request"]')).to_contain_text("3 ·")
    expect(page.locator(f'.cf-heat[data-element="{new_id}"]')).to_contain_text("2 ·")
    expect(page.locator('#stats tr[data-element="handle_request"] td.count')).to_have_text("3")
    page.screenshot(path=str(SCREENSHOTS / "designer_heatmap.png"), full_page=True)


def test_form_editor_saves_a_draft_and_the_diff_marks_changes(page, login, live_server, deployed, ctx, people):
    login("dora")
    page.goto(f"{live_server}/designer")
    page.locator("#forms a", has_text="service_request_handle").click()
    expect(page.locator("body[data-form-editor-ready='1']")).to_have_count(1)
    expect(page.locator("#form-editor .fjs-editor-container")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "designer_form_editor.png"), full_page=True)
    page.click("#save-form")
    expect(page.locator("#status")).to_contain_text("表单草稿已保存（修订 1）")
    draft = designer.get_draft(ctx, kind="form", name="service_request_handle", actor=people["dora"])
    assert json.loads(draft.content)["id"] == "service_request_handle"
    assert [c["key"] for c in json.loads(draft.content)["components"] if "key" in c] == [
        c["key"] for c in json.loads((ROOT / "forms" / "service_request_handle.json").read_text())["components"]
        if "key" in c]
    xml = (ROOT / "processes" / f"{PROCESS}.bpmn").read_text(encoding="utf-8")
    # the editor's schema (with its exporter/schemaVersion fields) passes the engine's form check at deploy
    assert designer.deploy_from_modeler(ctx, xml=xml, actor=people["dora"], validate_only=True) is None

    deploy(ctx, (f"{PROCESS}.bpmn", xml.replace('name="关闭请求"', 'name="结案"').encode()),
           *[(n, c) for n, c in _bundle(PROCESS)[1:]])
    page.goto(f"{live_server}/designer/processes/{PROCESS}")
    page.locator("#versions a.diff-link").click()
    expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
    expect(page.locator('#changes tr[data-change="changed"][data-element="close_request"]')).to_contain_text("name")
    expect(page.locator('#diagram-new .djs-element.cf-changed[data-element-id="close_request"]')).to_have_count(1)
    expect(page.locator('#diagram-old .djs-element.cf-changed[data-element-id="close_request"]')).to_have_count(1)


def test_designer_changes_complaint_handling_and_new_complaints_run_on_version_2(page, login, live_server, ctx, people):
    """The issue's walk-through on complaint_handling: a complaint instance starts when a complaint is filed
    (the case comes first), so version 2 is started the way the bank starts it, by filing complaints."""
    from engine.complaints import service as complaints
    from engine.complaints.service import ComplaintInput
    from tests.support.care import add_customers, customer

    deploy(ctx, *_bundle("complaint_handling"))
    add_customers(ctx, customer("C1"), customer("C2"), customer("C3"))
    login("dora")
    _open_modeler(page, live_server, "complaint_handling")

    # A registration check between the acknowledgement and triage: a new task on that flow, made a user task.
    new_id = _add_user_task(page, "Flow_to_triage", "登记复核 Check the registration", "complaint_registration_check")
    problem = _problem_shown(page, new_id, "form 'complaint_registration_check' is not deployed")
    page.screenshot(path=str(SCREENSHOTS / "designer_complaint_problem.png"), full_page=True)

    problem.click()
    page.fill("#bio-properties-panel-careflow-formKey", "complaint_ack_manual")
    page.click("#validate")
    expect(page.locator("#status")).to_have_text("校验通过")
    page.click("#deploy")  # a deploy shows its summary and asks first
    page.click("#deploy-confirm")
    expect(page.locator("#status")).to_have_text("已部署版本 2")

    # Complaints filed now run on version 2 and wait at the new task after their acknowledgement.
    filed = [complaints.submit_complaint(ctx, ComplaintInput(
        channel="phone", business_type="bank_cards", cause=cause, summary="卡片被盗刷", customer_id=cid),
        actor=people["alice"])[0] for cid, cause in (("C1", "fund_safety"), ("C2", "service_attitude"),
                                                      ("C3", "disclosure"))]
    for view in filed:
        assert [t.task_name for t in open_tasks(ctx, view.instance_id)] == [new_id]
        assert instances.get_instance(ctx, view.instance_id, actor=SYSTEM).definition_version == 2
    page.goto(f"{live_server}/designer/instances/{filed[0].instance_id}")
    expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
    expect(page.locator(f'.djs-element.cf-current[data-element-id="{new_id}"]')).to_have_count(1)
    page.goto(f"{live_server}/designer/processes/complaint_handling/heatmap?version=2")
    expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
    expect(page.locator(f'.cf-heat[data-element="{new_id}"]')).to_contain_text("3 ·")
    page.screenshot(path=str(SCREENSHOTS / "designer_complaint_heatmap.png"), full_page=True)


@pytest.mark.parametrize(("lang", "texts", "absent"), [
    ("zh", {"careflow": "CareFlow 流程属性", "dueIn": "办理时限（SLA）", "dueInHelp": "ISO 8601 时长，自任务创建时起算",
            "general": "常规", "key": "键", "validation": "校验"}, "Due in"),
    ("en", {"careflow": "CareFlow properties", "dueIn": "Due in (SLA)", "dueInHelp": "An ISO 8601 duration from the task",
            "general": "General", "key": "Key", "validation": "Validation"}, "办理时限"),
])
def test_the_properties_panels_speak_the_page_language_only(page, login, live_server, deployed, lang, texts, absent):
    """bpmn-js's panel (CareFlow's group through its translate service) and form-js's editor panel: zh-CN by default,
    English on an English page, never both; the English form editor page once hung (its palette translator answered
    its own writes)."""
    login("dora")
    page.goto(f"{live_server}/designer?lang={lang}")
    _open_modeler(page, live_server)
    page.evaluate("(() => { const m = window.careflowModeler; "
                  "m.get('selection').select(m.get('elementRegistry').get('handle_request')); })()")
    panel = page.locator(".bio-properties-panel")
    expect(panel.locator('[data-group-id="group-careflow"] .bio-properties-panel-group-header-title')).to_have_text(
        texts["careflow"])
    expect(panel.locator('label[for="bio-properties-panel-careflow-dueIn"]')).to_have_text(texts["dueIn"])
    expect(panel).to_contain_text(texts["dueInHelp"])
    expect(panel).not_to_contain_text(absent)
    page.goto(f"{live_server}/designer/forms/service_request_handle")
    expect(page.locator("body[data-form-editor-ready='1']")).to_have_count(1)
    page.locator(".fjs-editor-container .fjs-element").nth(1).click()  # the first field
    properties = page.locator(".fjs-properties-container")
    expect(properties.locator(".bio-properties-panel-group-header-title").first).to_have_text(texts["general"])
    expect(properties).to_contain_text(texts["validation"])
    expect(properties.locator('label[for="bio-properties-panel-key"]')).to_have_text(texts["key"])
    page.screenshot(path=str(SCREENSHOTS / f"designer_panels_{lang}.png"), full_page=True)
