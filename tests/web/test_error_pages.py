"""Every browser-facing error is an HTML page in the app's frame; API clients keep their JSON; form mistakes come
back as a message on the same page."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from engine import errors as e
from engine.services import instances
from engine.views import SYSTEM
from tests.support.care import add_customers, customer
from tests.support.engine import deploy
from tests.support.web import login
from web import create_app

ROOT = Path(__file__).resolve().parents[2]
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
RAISES = {400: e.InvalidInputError("bad"), 403: e.PermissionDeniedError("no"), 404: e.TaskNotFoundError("gone"),
          409: e.ConflictError("someone else"), 422: e.FormValidationError({"amount": ["too big"]}),
          500: e.ConfigurationError("misconfigured")}


@pytest.fixture
def app(ctx, people):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "PROPAGATE_EXCEPTIONS": False}, engine=ctx)
    for status, error in RAISES.items():
        def boom(error: e.EngineError = error) -> None:
            raise error
        app.add_url_rule(f"/boom/{status}", f"boom_{status}", boom)
        app.add_url_rule(f"/api/v1/boom/{status}", f"api_boom_{status}", boom)

    def crash() -> None:
        raise RuntimeError("a bug")
    app.add_url_rule("/boom/crash", "crash", crash)
    return app


def is_error_page(response, status: int) -> bool:
    page = response.get_data(as_text=True)
    return (response.status_code == status and response.mimetype == "text/html"
            and f'id="error-page" data-status="{status}"' in page and '<header' in page)


def test_browser_errors_are_html_pages_inside_the_frame(app):
    client, _ = login(app, "alice")
    for status in RAISES:
        response = client.get(f"/boom/{status}", headers=BROWSER)
        assert is_error_page(response, status), (status, response.get_data(as_text=True)[:300])
        page = response.get_data(as_text=True)
        assert 'id="nav-complaints"' in page and "下一步" in page  # the app's navigation; what to do next
    assert is_error_page(client.get("/boom/crash", headers=BROWSER), 500)
    assert "a bug" not in client.get("/boom/crash", headers=BROWSER).get_data(as_text=True)
    assert is_error_page(client.get("/no/such/page", headers=BROWSER), 404)
    assert is_error_page(client.get("/inbox/tasks/00000000-0000-0000-0000-000000000000"), 404)
    assert is_error_page(client.get("/supervisor"), 403)  # alice is not a supervisor
    assert is_error_page(client.get("/reports?start=2025-13-01"), 400)
    assert is_error_page(client.get("/logout"), 405)
    english = client.get("/no/such/page?lang=en", headers=BROWSER).get_data(as_text=True)
    assert "Not found" in english and "未找到" not in english


def test_signed_out_visitors_get_the_page_without_navigation(app):
    response = app.test_client().get("/no/such/page", headers=BROWSER)
    assert is_error_page(response, 404) and 'id="nav-complaints"' not in response.get_data(as_text=True)
    assert 'id="error-home" href="/login"' in response.get_data(as_text=True).replace("'", '"') or "/login" in (
        response.get_data(as_text=True))


def test_api_clients_keep_json(app):
    client, _ = login(app, "alice")
    for status in RAISES:
        response = client.get(f"/api/v1/boom/{status}", headers=BROWSER)
        assert response.status_code == status and response.is_json, status
    assert client.get("/api/v1/no/such").is_json
    wants_json = client.get("/boom/409", headers={"Accept": "application/json"})
    assert wants_json.status_code == 409 and wants_json.get_json()["error"]["code"] == "conflict"


@pytest.fixture
def task_url(app, ctx):
    files = [("service_request.bpmn", (ROOT / "processes" / "service_request.bpmn").read_bytes())]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("service_request_*.json"))]
    deploy(ctx, *files)
    add_customers(ctx, customer("C1", date(1980, 5, 20), name="王小明", tier="gold", phone="13912345678"))
    instances.start_instance(ctx, process_key="service_request", actor=SYSTEM, customer_id="C1", business_key="SR-1")
    client, _ = login(app, "alice")
    return re.search(r'href="(/inbox/tasks/[0-9a-f-]{36})"', client.get("/inbox?view=queue").get_data(as_text=True))[1]


def test_form_mistakes_come_back_as_messages_on_the_same_page(app, task_url):
    alice, csrf = login(app, "alice")
    assert alice.post(f"{task_url}/claim", data={"csrf_token": csrf}).status_code == 302
    wrong = alice.post(f"{task_url}/delegate", data={"csrf_token": csrf, "to": "nobody.here"})
    assert wrong.status_code == 302 and wrong.headers["Location"].endswith(task_url) and not wrong.is_json
    page = alice.get(task_url).get_data(as_text=True)
    assert re.search(r'class="flash flash-error"[^>]*>没有这个用户，请检查用户名。', page)
    bob, bob_csrf = login(app, "bob")
    second = bob.post(f"{task_url}/claim", data={"csrf_token": bob_csrf})  # alice claimed it first
    assert second.status_code == 302 and not second.is_json
    page = bob.get(f"{task_url}?lang=en").get_data(as_text=True)
    assert 'class="flash flash-error"' in page


def test_success_and_error_messages_look_different(app, task_url):
    alice, csrf = login(app, "alice")
    alice.post(f"{task_url}/claim", data={"csrf_token": csrf})
    page = alice.get(task_url).get_data(as_text=True)
    assert re.search(r'class="flash flash-success"[^>]*>已领取', page)
    theme = alice.get(re.search(r'href="(/static/build/theme-[A-Z0-9]+\.css)"', page)[1])
    css = theme.get_data(as_text=True)
    theme.close()

    def rule(name: str) -> str:  # the declarations of the first rule whose selector list names the class
        return re.search(r"[^{}]*\." + name + r"(?![\w-])[^{}]*\{([^}]*)\}", css)[1]

    assert "--bs-alert" in rule("flash-success") and rule("flash-success") != rule("flash-error")


def test_the_login_notice_is_in_the_page_language(app):
    client = app.test_client()
    page = client.get("/inbox", follow_redirects=True).get_data(as_text=True)
    assert "请先登录再查看此页面" in page and "Please log in" not in page
