"""Global search over HTTP: the header's box on every staff page, the results page, GET /api/v1/search."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.complaints import service as complaints
from engine.db.models import AuditEvent
from engine.services import identity
from tests.processes.test_complaint_handling import complaint, deploy_complaints
from tests.support.care import add_customers, customer
from tests.support.web import login
from web import create_app


@pytest.fixture
def app(ctx, people):
    add_customers(ctx, customer("W1", name="王芳", phone="13912345678", manager="alice"))
    deploy_complaints(ctx)
    complaints.submit_complaint(ctx, complaint(customer_id="W1", complainant_name="王芳", complainant_phone="13912345678",
                                               channel="phone", summary="信用卡被盗刷"), actor=people["alice"])
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _bearer(ctx, name):
    return {"Authorization": f"Bearer {identity.create_token(ctx, username=name)}"}


def _searches(ctx) -> int:
    with ctx.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(AuditEvent.action == "search.performed")) or 0)


@pytest.mark.parametrize("path", ["/inbox", "/customers", "/complaints", "/approvals"])
def test_every_staff_page_has_the_search_box_and_slash_focuses_it(app, path):
    client, _ = login(app, "alice")
    page = client.get(path).get_data(as_text=True)
    assert 'id="global-search"' in page and 'action="/search"' in page and 'aria-keyshortcuts="/"' in page
    assert "/static/js/search.js" in page
    with client.get("/static/js/search.js") as response:
        script = response.get_data(as_text=True)
    assert 'event.key !== "/"' in script and 'getElementById("global-search")' in script


def test_the_results_page_lists_masked_results_in_the_users_language(app, ctx):
    client, _ = login(app, "alice")
    page = client.get("/search?q=王芳").get_data(as_text=True)
    assert 'data-customer="W1"' in page and "王*" in page and "王芳</td>" not in page and "13912345678" not in page
    assert "投诉案件" in page and "信用卡被盗刷" in page and "data-case=" in page
    english = client.get("/search?q=王芳&lang=en").get_data(as_text=True)
    assert "Complaint cases" in english
    before = _searches(ctx)
    assert client.get("/search").status_code == 200 and _searches(ctx) == before  # an empty box searches nothing
    refused = client.get("/search?lang=zh&q=" + "x" * 101)
    assert refused.status_code == 400 and "最多 100 个字符" in refused.get_data(as_text=True)


def test_the_api_returns_typed_results_the_caller_may_see(app, ctx):
    client = app.test_client()
    found = client.get("/api/v1/search?q=139 1234 5678", headers=_bearer(ctx, "alice"))
    assert found.status_code == 200, found.json
    body = found.json
    assert body["kind"] == "phone" and set(body) == {"kind", "cases", "customers", "tasks", "instances"}
    assert body["customers"] == [{"id": "W1", "name": "王*", "phone": "139****5678", "tier": "mass", "branch": None,
                                  "manager": "alice"}]
    assert [c["complainant_name"] for c in body["cases"]] == ["王*"]
    other = client.get("/api/v1/search?q=王芳", headers=_bearer(ctx, "carol")).json  # not her customer
    assert other["customers"] == [] and len(other["cases"]) == 1
    bad = client.get("/api/v1/search?q=%20", headers=_bearer(ctx, "alice"))
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_input"
    assert client.get("/api/v1/search?q=王芳").status_code == 401
