"""Customer pages through the Flask test client: list and search, the 360 view, reveal, import with polling."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.customers.customer360 import seed_products
from engine.db.models import AuditEvent
from engine.services import instances
from engine.views import SYSTEM
from tests.support import bpmn as b
from tests.support.care import add_customers, customer
from tests.support.engine import deploy
from tests.support.web import login
from web import create_app
from web.customers.pages import wait_for_import

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"


@pytest.fixture
def app(ctx, people):
    seed_products(ctx)
    add_customers(ctx,
                  customer("W1", date(1960, 10, 1), name="欧阳明华", tier="diamond", manager="alice", branch="朝阳支行",
                           phone="13912345678", email="ouyang@example.cn", id_number="110105196010011234"),
                  customer("W2", name="李娜", tier="gold", manager="bob", phone="13800000002"),
                  customer("W3", name="王芳", tier="gold", manager="alice", phone="13800000003"))
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _ids(page: str) -> list[str]:
    return re.findall(r'<tr data-customer="([^"]+)"', page)


def test_list_is_masked_and_searchable(app):
    client, _ = login(app, "alice")
    page = client.get("/customers").get_data(as_text=True)
    assert _ids(page) == ["W1", "W3"]  # the customers alice manages; W2 is bob's
    assert "欧**华" in page and "139****5678" in page
    assert "欧阳明华" not in page and "13912345678" not in page
    assert 'href="/customers"' in page  # the nav link
    assert "<th>客户号</th>" in page and "<th>资产（¥）</th>" in page and "Customer ID" not in page  # Chinese by default
    english = client.get("/customers?lang=en").get_data(as_text=True)
    assert "<th>Customer ID</th>" in english and "<th>AUM (¥)</th>" in english and "客户号" not in english
    assert _ids(client.get("/customers?q=13912345678").get_data(as_text=True)) == ["W1"]
    assert _ids(client.get("/customers?q=110105196010011234").get_data(as_text=True)) == ["W1"]
    assert _ids(client.get("/customers?q=李").get_data(as_text=True)) == []
    assert _ids(client.get("/customers?tier=gold&manager=alice").get_data(as_text=True)) == ["W3"]
    supervisor, _ = login(app, "sam")
    assert _ids(supervisor.get("/customers?q=李").get_data(as_text=True)) == ["W2"]


def test_360_page_and_audited_reveal(app, ctx):
    client, csrf = login(app, "alice")
    page = client.get("/customers/W1").get_data(as_text=True)
    assert "欧阳明华" in page and "139****5678" in page and "13912345678" not in page  # alice manages W1
    assert "**************1234" in page and "110105196010011234" not in page
    assert 'id="reveal-phone"' in page
    assert "<h3>风险评估</h3>" in page and "(公历)" in page and "Risk assessment" not in page
    english = client.get("/customers/W1?lang=en").get_data(as_text=True)
    assert "<h3>Risk assessment</h3>" in english and "风险评估" not in english and "(solar calendar)" in english
    client.get("/lang/zh")
    assert client.post("/customers/W1/reveal", data={"field": "phone"}).status_code == 400  # no CSRF token
    shown = client.post("/customers/W1/reveal", data={"csrf_token": csrf, "field": "phone", "reason": "回访"})
    assert shown.status_code == 200 and '<strong id="phone">13912345678</strong>' in shown.get_data(as_text=True)
    assert "13912345678" not in client.get("/customers/W1").get_data(as_text=True)  # shown once, not remembered
    with ctx.sessions() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "customer.contact_revealed")).all()
    assert (event.actor, event.after) == ("alice", {"field": "phone", "reason": "回访"})


def test_other_staff_see_a_masked_name_only_while_they_work_for_the_customer(app, ctx):
    client, csrf = login(app, "carol")
    assert client.get("/customers/W1").status_code == 403  # not hers, and no task for W1
    deploy(ctx, ("p.bpmn", b.simple_task_process(candidateGroups="branch_team")))
    instances.start_instance(ctx, process_key="simple", actor=SYSTEM, customer_id="W1")
    page = client.get("/customers/W1").get_data(as_text=True)
    assert "欧**华" in page and "欧阳明华" not in page and 'id="reveal-phone"' not in page
    refused = client.post("/customers/W1/reveal", data={"csrf_token": csrf, "field": "phone", "reason": "核实身份"})
    assert refused.status_code == 303
    assert "13912345678" not in client.get("/customers/W1").get_data(as_text=True)
    designer, _ = login(app, "dora")
    assert designer.get("/customers").status_code == 403


def test_import_upload_poll_done(app):
    client, csrf = login(app, "sam")
    assert client.get("/customers/import").status_code == 200
    files = {"csrf_token": csrf, "format": "csv",
             "file": (io.BytesIO((FIXTURES / "customers.csv").read_bytes()), "customers.csv"),
             "accounts": (io.BytesIO((FIXTURES / "accounts.csv").read_bytes()), "accounts.csv"),
             "holdings": (io.BytesIO((FIXTURES / "holdings.csv").read_bytes()), "holdings.csv")}
    started = client.post("/customers/import", data=files, content_type="multipart/form-data")
    assert started.status_code == 303
    run_url = started.headers["Location"]
    run_id = int(run_url.rsplit("/", 1)[1])
    first = client.get(run_url, headers={"Accept": "application/json"}).get_json()
    assert first["id"] == run_id and first["status"] in ("running", "done")
    wait_for_import(app, run_id)
    done = client.get(f"{run_url}?format=json").get_json()
    assert {k: done[k] for k in ("status", "total", "processed", "created", "updated", "unchanged", "failed", "percent")} == {
        "status": "done", "total": 7, "processed": 7, "created": 3, "updated": 0, "unchanged": 0, "failed": 4, "percent": 100}
    assert [(e["row"], e["field"]) for e in done["errors"]] == [
        (7, "customer_id"), (4, "id_number"), (5, "phone"), (6, "holdings[0].product_code"), (7, "id")]
    page = client.get(run_url).get_data(as_text=True)
    assert 'value="100"' in page and "身份证号校验码错误" in page and "poll.js" not in page  # finished: no polling
    assert '新建 <span data-count="created">3</span>' in page and '失败 <span data-count="failed">4</span>' in page
    assert "the ID number's check digit is wrong" not in page
    english = client.get(f"{run_url}?lang=en").get_data(as_text=True)
    assert 'created <span data-count="created">3</span>' in english and "新建" not in english
    assert "the ID number&#39;s check digit is wrong" in english and "身份证号校验码错误" not in english
    assert "C105" in client.get("/customers?q=C105").get_data(as_text=True)
    poll = client.get("/customers/imports/poll.js")
    assert poll.mimetype == "application/javascript" and "[data-count]" in poll.get_data(as_text=True)


def test_only_supervisors_import(app):
    client, csrf = login(app, "alice")
    assert client.get("/customers/import").status_code == 403
    files = {"csrf_token": csrf, "file": (io.BytesIO(b"id,name\nX1,x\n"), "c.csv")}
    assert client.post("/customers/import", data=files, content_type="multipart/form-data").status_code == 403


def test_api_lists_and_reads_customers(app, ctx):
    client, _ = login(app, "alice")
    listing = client.get("/api/v1/customers?tier=gold").get_json()
    assert [(c["id"], c["name"], c["phone"]) for c in listing["items"]] == [("W3", "王*", "138****0003")]
    one = client.get("/api/v1/customers/W1").get_json()
    assert (one["name"], one["phone"], one["id_number"], one["aum"]) == (
        "欧阳明华", "139****5678", "**************1234", "0.00")
    assert one["timeline"] == {"items": [], "next_cursor": None}  # added without audit events
    assert client.get("/api/v1/customers/NOPE").status_code == 404


def test_cli_import_prints_progress_and_bad_rows(ctx, settings, monkeypatch):
    from click.testing import CliRunner

    from web.cli import main

    seed_products(ctx)
    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.privacy.data_key)
    result = CliRunner().invoke(main, ["customers", "import", str(FIXTURES / "customers.csv"),
                                       "--accounts", str(FIXTURES / "accounts.csv"),
                                       "--holdings", str(FIXTURES / "holdings.csv")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  7/7 (100%): 3 created, 0 updated, 0 unchanged, 4 failed" in lines
    assert "  customers.csv:5 C103 phone: 不是有效的中国大陆手机号 / not a mainland China mobile number" in lines
    assert "  accounts:7 - customer_id: 客户文件中没有该客户号 / no such customer id in the customer file" in lines
    assert lines[-1].endswith("7 rows, 3 created, 0 updated, 0 unchanged, 4 failed")
    broken = CliRunner().invoke(main, ["customers", "import", str(FIXTURES / "customers.csv"), "--format", "json"])
    assert broken.exit_code == 1 and "failed" in broken.output.splitlines()[-1]


def test_timeline_items_link_to_their_pages(app, ctx):
    from engine.services import instances
    from engine.views import SYSTEM
    from tests.support import bpmn as b
    from tests.support.engine import deploy

    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    started = instances.start_instance(ctx, process_key="simple", actor=SYSTEM, customer_id="W1")
    [task] = instances.get_instance(ctx, started.id, actor=SYSTEM).open_tasks
    client, _ = login(app, "alice")
    items = client.get("/api/v1/customers/W1").get_json()["timeline"]["items"]
    assert [(i["kind"], i["link"]) for i in items] == [
        ("task", f"/inbox/tasks/{task.id}"), ("instance", f"/api/v1/instances/{started.id}")]
    page = client.get("/customers/W1").get_data(as_text=True)
    assert f'href="/inbox/tasks/{task.id}"' in page and f'href="/api/v1/instances/{started.id}"' in page
