"""Report pages through the Flask test client: who sees which portfolio, filters, CSV and Excel exports, the API.

Data: the hand-built bank of tests/support/reports.py (alice manages C1 and C2, bob C3 and C5, carol
C4); the period is February 2025 (bank-local).
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.support.reports import build_bank
from tests.support.web import login
from web import create_app

FEB = "start=2025-02-01&end=2025-02-28"


@pytest.fixture
def app(ctx, people):
    build_bank(ctx)
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def kpi(page: str, name: str) -> str:
    return re.search(rf'id="kpi-{name}">([^<]*)<', page).group(1)  # type: ignore[union-attr]


def test_a_customer_manager_sees_only_their_own_portfolio(app):
    client, _ = login(app, "alice")
    page = client.get(f"/reports?{FEB}&team=branch_team&manager=carol").get_data(as_text=True)  # filters ignored
    assert "My portfolio" in page or "我的客户" in page
    assert 'id="filter-team"' not in page
    assert (kpi(page, "open"), kpi(page, "overdue"), kpi(page, "complaints")) == ("2", "1", "2")
    page = client.get(f"/reports/scorecards?{FEB}&manager=bob").get_data(as_text=True)
    assert page.count("<tr>") == 2 and "<td>alice</td>" in page and "<td>bob</td>" not in page
    # Headers and codes in the reader's language (numbers stay numbers for the spreadsheet).
    assert rows(client.get(f"/reports/export/scorecards.csv?{FEB}"))[0][:2] == ["客户经理", "客户"]
    cards = rows(client.get(f"/reports/export/scorecards.csv?{FEB}&lang=en"))
    assert cards[0][:6] == ["Manager", "Customers", "New customers", "AUM at start", "AUM at end", "AUM growth"]
    assert [r[:6] for r in cards[1:]] == [["alice", "2", "1", "80000.00", "120000.00", "40000.00"]]
    funnel = rows(client.get(f"/reports/export/cross_sell_funnel.csv?{FEB}&manager=bob"))
    assert funnel == [["Leads", "Contacted", "Interested", "Sold", "Refused (suitability)", "Declined", "Cancelled",
                       "Cross-sell rate"], ["3", "2", "1", "1", "1", "1", "0", "0.5000"]]


def test_a_supervisor_sees_the_bank_and_filters_to_a_team(app):
    client, _ = login(app, "sam")
    page = client.get(f"/reports?{FEB}").get_data(as_text=True)
    assert (kpi(page, "open"), kpi(page, "overdue"), kpi(page, "complaints")) == ("5", "3", "5")
    assert 'id="filter-team"' in page
    cards = client.get(f"/reports/scorecards?{FEB}&team=service_team").get_data(as_text=True)
    assert "<td>alice</td>" in cards and "<td>bob</td>" in cards and "<td>carol</td>" not in cards
    team = client.get(f"/reports?{FEB}&team=branch_team").get_data(as_text=True)
    assert (kpi(team, "open"), kpi(team, "complaints")) == ("1", "1")  # carol's task; C4's complaint
    assert 'href="/reports/export/work.csv?start=2025-02-01&amp;end=2025-02-28&amp;team=branch_team"' in team
    assert rows(client.get(f"/reports/export/work.csv?{FEB}&team=branch_team&lang=en")) == [
        ["Assignee", "Open", "Overdue"], ["carol", "1", "0"]]
    assert rows(client.get(f"/reports/export/complaints_by_channel.csv?{FEB}")) == [
        ["Channel", "Complaints"], ["A01", "3"], ["A02", "2"]]
    assert rows(client.get(f"/reports/export/care.csv?{FEB}&branch=海淀支行"))[1:] == [
        ["Birthday greeting", "1", "0", "0", "1", "0", "0", "0"], ["Holiday greeting", "3", "0", "0", "0", "1", "1", "1"]]


def test_excel_export_and_bad_requests(app):
    client, _ = login(app, "sam")
    xlsx = client.get(f"/reports/export/revisits.xlsx?{FEB}")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"  # a zip container (Office Open XML)
    assert 'filename="careflow-2025-02-01-2025-02-28-revisits.xlsx"' in xlsx.headers["Content-Disposition"]
    assert client.get(f"/reports/export/nothing.csv?{FEB}").status_code == 404
    assert client.get(f"/reports/export/work.pdf?{FEB}").status_code == 404
    assert client.get("/reports?start=2025-13-01").status_code == 400
    assert client.get("/reports?start=2025-03-01&end=2025-02-01").status_code == 400


def test_designers_see_process_analytics_only(app):
    client, _ = login(app, "dora")
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/export/work.csv").status_code == 403
    page = client.get(f"/reports/processes?key=complaint_handling&version=1&{FEB}").get_data(as_text=True)
    assert 'id="heatmap-link"' in page and "/designer/processes/complaint_handling/heatmap?version=1" in page
    versions = rows(client.get(f"/reports/processes/complaint_handling/export/versions.csv?version=1&{FEB}"))
    assert [r[:7] for r in versions[1:]] == [["2", "3", "1", "0", "1", "1", "0"], ["1", "4", "1", "3", "0", "0", "4"]]
    assert versions[2][7:] == ["20000.0", "2246400.0", "2246400.0"]
    waits = rows(client.get(f"/reports/processes/complaint_handling/export/waits.csv?version=1&{FEB}"))
    assert waits[1:] == [["acknowledge", "1", "518400.0", "518400.0"], ["investigate", "2", "129600.0", "172800.0"]]
    alice, _ = login(app, "alice")
    assert alice.get("/reports/processes").status_code == 403


def test_the_api_gives_the_same_tables_by_role(app):
    client, _ = login(app, "alice")
    mine = client.get(f"/api/v1/reports/dashboard?{FEB}").get_json()
    assert mine["own_portfolio"] is True and mine["filters"]["manager"] == "alice"
    assert mine["tables"]["work"]["rows"] == [["alice", 2, 1]]
    sam, _ = login(app, "sam")
    everything = sam.get(f"/api/v1/reports/dashboard?{FEB}&tier=gold").get_json()
    assert everything["own_portfolio"] is False
    assert everything["tables"]["revisits"]["rows"] == [["gold", "alice", 1, 1, 1, "1.0000"], ["gold", "bob", 1, 0, 0,
                                                                                                "0.0000"]]
    analytics = sam.get(f"/api/v1/reports/processes/complaint_handling?{FEB}").get_json()
    assert analytics["version"] == 2 and analytics["tables"]["waits"]["rows"][0][:2] == ["approve", 1]
    assert sam.get("/api/v1/reports/processes/nope").status_code == 404
    dora, _ = login(app, "dora")
    assert dora.get("/api/v1/reports/dashboard").status_code == 403
