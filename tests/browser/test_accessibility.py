"""WCAG 2.1 AA on the pages people work in: axe-core (npm, frontend/node_modules) run in Chromium on each page.

A serious or critical violation fails the test with the rule, the help text and the offending elements, so the
message says what to fix. Pages: login, the customer portal's sign-in, inbox, a task, a complaint case, the
supervisor desk, reports, the data-subject requests (portal and staff) and the designer, each at desktop and phone
width.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from engine.complaints.service import ComplaintInput, submit_complaint
from engine.dsr import service as dsr
from engine.services import instances
from engine.views import SYSTEM
from tests.browser.conftest import PASSWORD
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.engine import deploy, open_tasks
from tests.support.portal import deploy_complaints, latest_code

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page whose context lets the test inject axe-core (the app's CSP rightly refuses inline scripts)."""
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def _violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


@pytest.fixture
def work(ctx, people):
    """A service request waiting in alice's queue and a complaint case, so the pages have content."""
    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("service_request_*.json"))]
    deploy(ctx, *files)
    add_customers(ctx, customer("C1001", date(1975, 4, 2), name="王建国", phone="13912345678"))
    started = instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id="C1001",
                                       business_key="SR-1")
    deploy_complaints(ctx)
    case, _ = submit_complaint(ctx, ComplaintInput(channel="phone", business_type="loans", cause="other",
                                                   summary="还款提醒不及时", customer_id="C1001"), actor=people["alice"])
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    request = dsr.record_request(ctx, "C1001", "deletion", "branch", note="身份证核验", actor=SYSTEM)
    return {"task": open_tasks(ctx, started.id)[0].id, "case": case.case_no, "request": request.id, "sms": sms,
            "ctx": ctx}


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_no_serious_accessibility_violation_on_the_work_pages(axe_page, live_server, work, width):
    page = axe_page
    page.set_viewport_size(WIDTHS[width])
    found: dict[str, list[str]] = {}

    def check(path: str) -> None:
        response = page.goto(f"{live_server}{path}")
        assert response is not None and response.ok, f"{path} answered {response and response.status}"
        problems = _violations(page)
        if problems:
            found[path] = problems

    check("/login")
    check("/portal/login")
    page.fill("#phone", "13912345678")
    page.click("#send-code")
    page.fill("#code", latest_code(work["ctx"], work["sms"]))
    with page.expect_navigation():
        page.click("#verify")
    check("/portal/requests")
    check(f"/portal/requests/{work['request']}")
    assert page.url.endswith(f"/portal/requests/{work['request']}")  # signed in, not sent back to the sign-in
    page.context.clear_cookies()
    _sign_in(page, live_server, "alice")
    check("/inbox?view=queue")
    check(f"/inbox/tasks/{work['task']}")
    check(f"/complaints/{work['case']}")
    check("/reports")
    page.context.clear_cookies()
    _sign_in(page, live_server, "sam")
    check("/supervisor")
    check("/data-requests")
    check(f"/data-requests/{work['request']}")
    page.context.clear_cookies()
    _sign_in(page, live_server, "dora")
    check("/designer")
    check("/designer/modeler/service_request")
    assert not found, "\n".join(f"{path}:\n  " + "\n  ".join(problems) for path, problems in found.items())
