"""Reports in a real browser: a supervisor opens the dashboard (charts drawn by Chart.js), filters to a team,
and downloads a table as CSV; a customer manager sees only their own portfolio."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.reports import build_bank

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FEB = "start=2025-02-01&end=2025-02-28"


@pytest.fixture
def bank(ctx):
    build_bank(ctx)


def test_a_manager_filters_the_dashboard_to_a_team_and_exports_csv(page, login, live_server, bank):
    login("sam")
    page.click("#nav-reports")
    page.goto(f"{live_server}/reports?{FEB}")
    expect(page.locator("#kpi-open")).to_have_text("5")
    expect(page.locator("#chart-complaints_by_channel")).to_have_attribute("data-drawn", "1")  # Chart.js ran
    expect(page.locator("#chart-care")).to_have_attribute("data-drawn", "6")
    page.select_option("#filter-team", "branch_team")
    page.click("#apply-filters")
    expect(page.locator("#kpi-open")).to_have_text("1")
    expect(page.locator("#kpi-complaints")).to_have_text("1")
    expect(page.locator("#table-work")).to_contain_text("carol")
    expect(page.locator("#table-work")).not_to_contain_text("alice")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "reports_team_dashboard.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#export-work-csv")
    saved = download.value
    assert saved.suggested_filename == "careflow-2025-02-01-2025-02-28-work.csv"
    content = Path(saved.path()).read_bytes().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(content))) == [["处理人", "未完成", "逾期"], ["carol", "1", "0"]]  # the page's language


def test_a_customer_manager_sees_their_portfolio_only(page, login, live_server, bank):
    login("alice")
    page.goto(f"{live_server}/reports?{FEB}")
    expect(page.locator("h2").first).to_contain_text("我的客户")
    expect(page.locator("#filter-team")).to_have_count(0)
    expect(page.locator("#kpi-complaints")).to_have_text("2")
    page.click("#tab-scorecards")
    expect(page.locator("#table-scorecards tr")).to_have_count(2)  # the header and alice
    expect(page.locator("#table-scorecards")).to_contain_text("alice")
