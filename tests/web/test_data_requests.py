"""Data-subject requests through the web: a portal customer files and follows their own requests and downloads the
copy; compliance staff record, list (overdue marked), answer and refuse; others get 403/404; bad input 4xx."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent
from engine.services import identity
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.portal import portal_login
from tests.support.web import login
from web import create_app

WANG, LI = "13912345678", "13812345678"


@pytest.fixture
def sms(ctx):
    channel = RecordingChannel("sms")
    ctx.register_channel(channel)
    return channel


@pytest.fixture
def app(ctx, people, sms):
    add_customers(ctx, customer("C1001", name="王建国", phone=WANG, email="wang@example.cn"),
                  customer("C1002", name="李晓梅", phone=LI))
    identity.create_user(ctx, username="cora", roles=["compliance"], groups=[], password="correct horse 1")
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def file(client, token: str, kind: str, **extra) -> int:
    response = client.post("/portal/requests", data={"csrf_token": token, "kind": kind, **extra})
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].split("/portal/requests/")[1].split("?")[0])


def test_customer_files_an_access_request_staff_answer_and_the_customer_downloads_the_copy(app, ctx, sms, clock):
    client, token = portal_login(app, ctx, sms, WANG)
    request_id = file(client, token, "access")
    page = client.get(f"/portal/requests/{request_id}?filed=1").get_data(as_text=True)
    assert "您的申请已受理" in page and "已受理" in page and "查阅复制个人信息" in page
    assert client.get(f"/portal/requests/{request_id}/export.json").status_code == 404  # not answered yet

    staff, staff_token = login(app, "cora")
    listing = staff.get("/data-requests").get_data(as_text=True)
    assert f'data-request="{request_id}"' in listing and "王*国" in listing and "王建国" not in listing
    answered = staff.post(f"/data-requests/{request_id}/answer", data={"csrf_token": staff_token, "answer": "请查收"})
    assert answered.status_code == 303
    again = staff.post(f"/data-requests/{request_id}/answer", data={"csrf_token": staff_token})
    assert again.status_code == 409

    page = client.get(f"/portal/requests/{request_id}?lang=en").get_data(as_text=True)
    assert "Answered" in page and "请查收" in page and "download-json" in page
    download = client.get(f"/portal/requests/{request_id}/export.json")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.data)
    assert data["customer"]["name"] == "王建国" and data["customer"]["phone"] == WANG
    assert data["customer"]["email"] == "wang@example.cn"
    book = zipfile.ZipFile(io.BytesIO(client.get(f"/portal/requests/{request_id}/export.xlsx").data))
    sheets = book.read("xl/workbook.xml").decode()
    assert 'name="customer"' in sheets and 'name="audit_events"' in sheets
    assert "王建国" in book.read("xl/sharedStrings.xml").decode()
    staff_copy = staff.get(f"/data-requests/{request_id}/export.json")
    assert staff_copy.status_code == 200 and json.loads(staff_copy.data)["customer"]["id"] == "C1001"
    with Session(ctx.db) as session:
        downloads = session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "dsr.export_downloaded")
                                    .order_by(AuditEvent.id)).all()
    assert downloads == ["customer:C1001", "customer:C1001", "cora"]


def test_a_customer_cannot_see_or_download_another_customers_request(app, ctx, sms):
    wang, wang_token = portal_login(app, ctx, sms, WANG)
    request_id = file(wang, wang_token, "access")
    staff, staff_token = login(app, "cora")
    staff.post(f"/data-requests/{request_id}/answer", data={"csrf_token": staff_token})
    li, _ = portal_login(app, ctx, sms, LI)
    assert li.get(f"/portal/requests/{request_id}").status_code == 404
    assert li.get(f"/portal/requests/{request_id}/export.json").status_code == 404
    assert f'data-request="{request_id}"' not in li.get("/portal/requests").get_data(as_text=True)
    assert app.test_client().get(f"/portal/requests/{request_id}").status_code == 302  # not signed in: to login


def test_staff_without_the_role_get_403_and_the_nav_shows_the_page_to_compliance(app):
    alice, alice_token = login(app, "alice")
    assert alice.get("/data-requests").status_code == 403
    assert alice.post("/data-requests", data={"csrf_token": alice_token, "customer_id": "C1001", "kind": "access",
                                              "channel": "branch"}).status_code == 403
    assert 'id="nav-data-requests"' not in alice.get("/inbox").get_data(as_text=True)
    cora, _ = login(app, "cora")
    assert 'id="nav-data-requests"' in cora.get("/data-requests").get_data(as_text=True)


def test_malformed_input_gets_4xx_and_stores_nothing(app, ctx, sms):
    cora, token = login(app, "cora")
    bad = {"customer_id": "C1001", "kind": "copy", "channel": "branch"}
    assert cora.post("/data-requests", data={"csrf_token": token, **bad}).status_code == 422
    assert cora.post("/data-requests", data={"csrf_token": token, "customer_id": "NOPE", "kind": "access",
                                             "channel": "phone"}).status_code == 404
    assert cora.post("/data-requests", data={"csrf_token": token, "customer_id": "C1001", "kind": "access",
                                             "channel": "phone", "note": "x" * 4001}).status_code == 422
    assert cora.post("/data-requests", data={"customer_id": "C1001", "kind": "access",
                                             "channel": "phone"}).status_code == 400  # no CSRF token
    assert cora.get("/data-requests/abc").status_code == 404
    assert cora.get("/data-requests/999999").status_code == 404
    assert 'data-request="' not in cora.get("/data-requests?show=all").get_data(as_text=True)
    client, ptoken = portal_login(app, ctx, sms, WANG)
    assert client.post("/portal/requests", data={"csrf_token": ptoken, "kind": "everything"}).status_code == 422
    assert client.post("/portal/requests", data={"csrf_token": ptoken, "kind": "deletion"}).status_code == 422
    file(client, ptoken, "deletion", confirm="1")
    assert client.post("/portal/requests", data={"csrf_token": ptoken, "kind": "deletion",
                                                 "confirm": "1"}).status_code == 409


def test_a_branch_deletion_of_an_active_customer_is_refused_and_overdue_requests_are_marked(app, ctx, sms, clock):
    cora, token = login(app, "cora")
    recorded = cora.post("/data-requests", data={"csrf_token": token, "customer_id": "C1002", "kind": "deletion",
                                                 "channel": "branch", "note": "身份证核验"})
    assert recorded.status_code == 303
    request_id = int(recorded.headers["Location"].rsplit("/", 1)[1])
    assert 'class="overdue"' not in cora.get("/data-requests").get_data(as_text=True)
    clock.advance(timedelta(days=30))  # past the 15 working days (the session with it: sign in again)
    cora, token = login(app, "cora")
    listing = cora.get("/data-requests").get_data(as_text=True)
    assert 'class="overdue"' in listing and "逾期" in listing
    assert cora.post(f"/data-requests/{request_id}/decide", data={"csrf_token": token}).status_code == 303
    page = cora.get(f"/data-requests/{request_id}").get_data(as_text=True)
    assert "已拒绝" in page and "您仍是本行客户" in page
    li, _ = portal_login(app, ctx, sms, LI)
    mine = li.get(f"/portal/requests/{request_id}").get_data(as_text=True)
    assert "已拒绝" in mine and "仅作存储" in mine
