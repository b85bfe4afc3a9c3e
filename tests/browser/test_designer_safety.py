"""Designer safety in a real browser: token simulation toggled from the toolbar, the deploy confirmation with its
summary (diff, live instances, migration dry run, second person), the test run marking its path, the catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from engine.db.models import ProcessInstance
from engine.services import instances
from engine.views import SYSTEM
from tests.support.engine import deploy

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "service_request"


def _bundle() -> list[tuple[str, bytes]]:
    files = [ROOT / "processes" / f"{PROCESS}.bpmn", *sorted((ROOT / "forms").glob(f"{PROCESS}_*.json"))]
    return [(p.name, p.read_bytes()) for p in files]


@pytest.fixture
def deployed(ctx):
    return deploy(ctx, *_bundle())


def _open_modeler(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/designer/modeler/{PROCESS}")
    expect(page.locator("body[data-modeler-ready='1']")).to_have_count(1)


def test_token_simulation_is_toggled_from_the_toolbar_in_the_page_language(page, login, live_server, deployed):
    login("dora")
    _open_modeler(page, live_server)
    toggle = page.locator("#token-simulation")
    expect(toggle).to_have_text("令牌模拟")
    expect(page.locator(".bts-toggle-mode")).to_be_hidden()  # the library's own English switch
    toggle.click()
    expect(page.locator("body[data-simulation='on']")).to_have_count(1)
    expect(page.locator(".bjs-container.simulation")).to_have_count(1)
    expect(toggle).to_have_text("退出令牌模拟")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#deploy")).to_be_disabled()
    # the start event's play button starts a token; the log speaks Chinese
    page.locator('.djs-overlays[data-container-id="start"] .bts-context-pad').first.click()
    page.locator(".bts-palette .bts-entry[title='模拟日志']").click()
    expect(page.locator(".bts-log .bts-header")).to_contain_text("模拟日志")
    expect(page.locator(".bts-log")).to_contain_text("流程已启动")
    toggle.click()
    expect(page.locator("body[data-simulation='off']")).to_have_count(1)
    expect(page.locator(".bjs-container.simulation")).to_have_count(0)
    expect(page.locator("#deploy")).to_be_enabled()


def test_deploy_shows_the_summary_and_waits_for_the_second_person(page, login, live_server, deployed, ctx):
    for _ in range(2):
        instances.start_instance(ctx, process_key=PROCESS, actor=SYSTEM)
    login("dora")
    _open_modeler(page, live_server)
    page.evaluate("""() => {
      const m = window.careflowModeler;
      m.get('modeling').updateLabel(m.get('elementRegistry').get('close_request'), '结案');
    }""")
    page.click("#deploy")
    dialog = page.locator("#deploy-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#deploy-versions")).to_have_text("生效版本：v1 → 成为版本 v2")
    expect(page.locator('#deploy-dialog [data-change="changed"] li[data-element="close_request"]')).to_have_text("结案")
    expect(page.locator("#deploy-live")).to_have_text("运行中的实例：2（在生效版本上：2）")
    expect(page.locator("#deploy-migration-title")).to_contain_text("2")
    expect(page.locator("#deploy-dialog tr.ok")).to_have_count(2)
    expect(page.locator("#deploy-approval")).to_contain_text("第二人")
    page.click("#deploy-cancel")
    expect(dialog).to_be_hidden()
    page.click("#deploy")
    page.click("#deploy-confirm")
    expect(page.locator("#approval-link")).to_have_count(1)
    expect(page.locator("#status")).to_contain_text("#")


def test_test_run_marks_the_path_and_lists_the_data(page, login, live_server, deployed, ctx):
    login("dora")
    _open_modeler(page, live_server)
    page.click("#trial-run")
    expect(page.locator("#trial-panel")).to_be_visible()
    page.fill("#trial-answers", '{"handle_request": {"resolution": "已处理", "amount": 80000},'
                                ' "approve_request": {"approved": true}}')
    page.click("#trial-start")
    expect(page.locator("#trial-status")).to_have_attribute("data-status", "completed")
    expect(page.locator('.djs-element.cf-visited[data-element-id="approve_request"]')).to_have_count(1)
    expect(page.locator('#trial-path tr[data-element="close_request"] td').first).to_have_text("关闭请求")
    expect(page.locator("#trial-variables-end")).to_contain_text("closed")
    page.fill("#trial-answers", '{"handle_request": {}}')
    page.click("#trial-start")
    expect(page.locator("#trial-status")).to_have_attribute("data-status", "error")
    expect(page.locator("#trial-error")).to_contain_text("处理请求")
    with ctx.sessions() as session:  # the runs happened in a throw-away database
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0


def test_the_handler_catalogue_and_the_handler_select(page, login, live_server, deployed):
    login("dora")
    page.goto(f"{live_server}/designer/handlers")
    entry = page.locator('.handler-entry[data-handler="careflow.complaint.record"]')
    expect(entry).to_contain_text("投诉")
    expect(entry.locator("table.handler-params")).to_contain_text("case_no")
    page.goto(f"{live_server}/designer/modeler/{PROCESS}")
    expect(page.locator("body[data-modeler-ready='1']")).to_have_count(1)
    page.evaluate("""() => {
      const m = window.careflowModeler;
      m.get('selection').select(m.get('elementRegistry').get('handle_request'));
    }""")
    expect(page.locator("#bio-properties-panel-careflow-nameEn")).to_have_count(1)


def test_form_editor_palette_offers_only_what_the_engine_supports_in_chinese(page, login, live_server, deployed):
    login("dora")
    page.goto(f"{live_server}/designer/forms/service_request_handle")
    expect(page.locator("body[data-form-editor-ready='1']")).to_have_count(1)
    types = page.eval_on_selector_all(".fjs-palette-field", "(nodes) => nodes.map((n) => n.dataset.fieldType)")
    assert set(types) == {"textfield", "textarea", "number", "checkbox", "datetime", "select", "radio", "checklist",
                          "taglist", "group", "text", "spacer", "separator"}
    expect(page.locator('.fjs-palette-field[data-field-type="textfield"]')).to_contain_text("单行文本")
    expect(page.locator(".fjs-palette-header")).to_have_text("组件")
    expect(page.locator(".fjs-palette-group-title").first).to_have_text("输入")


def _leaving_asks(page: Page) -> bool:
    """Whether the page's beforeunload handler holds the browser back (what makes it ask before leaving)."""
    return bool(page.evaluate("""() => {
      const event = new Event('beforeunload', { cancelable: true });
      window.dispatchEvent(event);
      return event.defaultPrevented;
    }"""))


def test_leaving_the_modeler_with_unsaved_edits_asks_first(page, login, live_server, deployed):
    login("dora")
    _open_modeler(page, live_server)
    page.locator('.djs-element[data-element-id="handle_request"]').first.click()  # a user gesture on the page
    page.evaluate("""() => {
      const m = window.careflowModeler;
      m.get('modeling').updateLabel(m.get('elementRegistry').get('close_request'), '结案');
    }""")
    assert _leaving_asks(page)
    page.evaluate("() => window.careflowModeler.get('commandStack').undo()")
    assert _leaving_asks(page)  # undone or not, the diagram was touched since it was saved


def test_leaving_after_saving_the_draft_does_not_ask(page, login, live_server, deployed):
    login("dora")
    _open_modeler(page, live_server)
    page.locator('.djs-element[data-element-id="handle_request"]').first.click()
    page.evaluate("""() => {
      const m = window.careflowModeler;
      m.get('modeling').updateLabel(m.get('elementRegistry').get('close_request'), '结案');
    }""")
    assert _leaving_asks(page)
    page.click("#save-draft")
    expect(page.locator("#status")).to_contain_text("1")
    assert not _leaving_asks(page)


def test_leaving_the_form_editor_with_unsaved_edits_asks_first(page, login, live_server, deployed):
    login("dora")
    page.goto(f"{live_server}/designer/forms/service_request_handle")
    expect(page.locator("body[data-form-editor-ready='1']")).to_have_count(1)
    assert not _leaving_asks(page)
    page.evaluate("""() => {
      const editor = window.careflowFormEditor;
      const { schema } = editor._getState();
      editor.get('modeling').addFormField({ type: 'textfield', key: 'extra', label: '备注' }, schema,
                                          schema.components.length);
    }""")
    assert _leaving_asks(page)
    page.click("#save-form")
    expect(page.locator("#status")).to_contain_text("1")
    assert not _leaving_asks(page)
