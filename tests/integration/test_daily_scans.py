"""The daily scan job runs the care scans and, once their processes are deployed, the sales and risk scans."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.care import scans
from engine.care.models import CareScanRun
from engine.care.scans import run_daily_scans
from engine.customers.accounts_models import CustomerAccount, CustomerHolding
from engine.customers.models import Customer
from engine.db.session import unit_of_work
from engine.services import calendar
from tests.processes.test_cross_sell import add_product, deploy_cross_sell
from tests.support.care import add_customers, customer, deploy_care


def _portfolio(ctx) -> None:
    add_customers(ctx, customer("MAT", tier="mass"), customer("RISK", tier="mass"))
    add_product(ctx, "TD1", 1, family="deposit", min_amount=None)
    with unit_of_work(ctx.sessions) as session:
        session.get_one(Customer, "RISK").risk_level = 2
        session.get_one(Customer, "RISK").risk_valid_until = date(2025, 4, 20)  # within 30 days of 2025-04-01
        session.add(CustomerHolding(customer_id="MAT", product_code="TD1", amount=Decimal("80000"),
                                    bought_on=date(2024, 4, 10), matures_on=date(2025, 4, 10), status="held",
                                    source="import"))
        session.add(CustomerAccount(customer_id="MAT", external_id="A1", kind="savings", balance=Decimal("80000"),
                                    avg_daily_balance=Decimal("80000"), status="open", updated_at=ctx.clock.now()))


def _runs(ctx) -> dict[str, tuple[str, int]]:
    with ctx.sessions() as session:
        return {r.job: (r.status, r.started) for r in session.scalars(select(CareScanRun))}


def test_first_of_the_month_runs_every_scan_once(ctx):
    deploy_care(ctx)
    deploy_cross_sell(ctx)
    _portfolio(ctx)
    results = run_daily_scans(ctx, date(2025, 4, 1))
    assert {job: r.started for job, r in results.items()} == {
        "birthday": 0, "holiday": 0, "revisit": 0, "calendar_check": 0, "maturity_leads": 1, "risk_reassess": 1,
        "tier_recompute": 1, "aum_snapshot": 2}  # both customers in the month's AUM snapshot (engine.reporting.snapshot)
    with ctx.sessions() as session:
        assert session.get_one(Customer, "MAT").tier == "gold"  # 80,000 of savings: upgraded at once
    again = run_daily_scans(ctx, date(2025, 4, 1))
    assert not any(r.ran for r in again.values())  # each (job, day) runs once
    assert set(run_daily_scans(ctx, date(2025, 4, 2))) == {
        "birthday", "holiday", "revisit", "calendar_check", "maturity_leads", "risk_reassess"}  # tiers only on the 1st


def test_scans_of_processes_not_deployed_are_left_out(ctx):
    deploy_care(ctx, "birthday_care", "holiday_care")
    assert set(run_daily_scans(ctx, date(2025, 4, 1))) == {"birthday", "holiday", "revisit", "calendar_check",
                                                            "aum_snapshot"}


def test_a_failing_scan_does_not_stop_the_others(ctx, monkeypatch):
    deploy_care(ctx)
    deploy_cross_sell(ctx)
    _portfolio(ctx)

    def broken(ctx, day):
        raise RuntimeError("holiday table unavailable")

    monkeypatch.setattr(scans, "scan_holidays", broken)
    with pytest.raises(RuntimeError, match="holiday table unavailable"):
        run_daily_scans(ctx, date(2025, 4, 1))
    runs = _runs(ctx)
    assert runs["holiday"][0] == "failed"
    assert runs["maturity_leads"] == ("done", 1) and runs["tier_recompute"] == ("done", 1)


def test_the_daily_check_logs_an_error_while_next_years_calendar_is_only_estimated(ctx, people, caplog):
    with caplog.at_level(logging.ERROR, logger="engine.services.calendar"):
        assert run_daily_scans(ctx, date(2026, 12, 2))["calendar_check"].started == 1
    assert "no official working-day data for 2027" in caplog.text and "careflow calendar import 2027" in caplog.text
    caplog.clear()
    calendar.import_year(ctx, year=2027, entries=calendar.parse_table("2027-02-05..2027-02-11, 休, 春节"),
                         source="notice", actor=people["root"])
    with caplog.at_level(logging.ERROR, logger="engine.services.calendar"):
        assert run_daily_scans(ctx, date(2026, 12, 3))["calendar_check"].started == 0
    assert caplog.text == ""
