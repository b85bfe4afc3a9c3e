"""Every dashboard KPI on the hand-built bank of tests/support/reports.py; the numbers are worked out by hand.

The period is February 2025 in the bank's zone (UTC+8) unless a test says otherwise: from 2025-01-31
16:00 UTC to 2025-02-28 16:00 UTC. The clock reads 2025-03-03 01:00 UTC.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.customers.models import Customer
from engine.db.session import unit_of_work
from engine.reporting import analytics, kpis
from engine.reporting.scope import Scope
from engine.reporting.scorecards import scorecards
from engine.reporting.snapshot import take_aum_snapshot
from tests.support.care import add_customers, customer
from tests.support.reports import build_bank


@pytest.fixture
def bank(ctx):
    build_bank(ctx)
    return ctx


def scope(ctx, start=date(2025, 2, 1), end=date(2025, 2, 28), **kw) -> Scope:
    return Scope(start, end, ctx.settings.zone, ctx.clock.now(), **kw)


def run(ctx, fn, *args, **kw):
    with ctx.sessions() as session:
        return fn(session, scope(ctx, **kw), *args)


def test_open_and_overdue_work_per_assignee(bank):
    work = run(bank, kpis.open_work)
    assert (work.open, work.overdue) == (5, 3)
    assert [(r.assignee, r.open, r.overdue) for r in work.rows] == [
        ("alice", 2, 1), (None, 1, 1), ("bob", 1, 1), ("carol", 1, 0)]
    team = run(bank, kpis.open_work, assignees=("alice", "bob"))
    assert (team.open, team.overdue) == (3, 2)


def test_complaint_volume_by_channel_business_type_and_cause(bank):
    volume = run(bank, kpis.complaint_volume)
    assert volume.total == 5  # K5 is a merged repeat, K6/K8/K9 were received in January
    assert [(c.key, c.count) for c in volume.by_channel] == [("A01", 3), ("A02", 2)]
    assert [(c.key, c.count) for c in volume.by_business_type] == [("B01", 3), ("B02", 1), ("B03", 1)]
    assert [(c.key, c.count) for c in volume.by_cause] == [("C01", 3), ("C02", 1), ("C03", 1)]
    alice = run(bank, kpis.complaint_volume, managers=("alice",))
    assert [(c.key, c.count) for c in alice.by_channel] == [("A01", 2)]
    assert run(bank, kpis.complaint_volume, branch="海淀支行").total == 2


def test_decided_within_15_30_60_days_on_bank_local_dates(bank):
    t = run(bank, kpis.complaint_timeliness)
    # K2: received 2025-02-04 01:00 local, answered 2025-02-19 09:00 local = 15 days (16 by UTC dates)
    # K3: 20 days; K7: received 02-14, answered 03-01 04:00 local = 15 days; K4 is not decided
    assert (t.received, t.decided, t.within_15, t.within_30, t.within_60) == (5, 4, 3, 4, 4)
    assert (t.share_15, t.share_30, t.share_60) == (0.75, 1.0, 1.0)
    # on time = answered on or before the legal day: K2 answered 02-19 local, due 02-18
    assert (t.on_time, t.on_time_rate) == (3, 0.75)
    assert t.review_requests == 1


def test_satisfaction_per_month_of_the_answer(bank):
    # February: K1 5, K2 2, K6 4, K9 1 (answered 2025-01-31 17:00 UTC = 02-01 01:00 local); K7 answered in March local
    assert [(p.month, p.rated, p.average) for p in run(bank, kpis.satisfaction_trend)] == [("2025-02", 4, 3.0)]
    trend = run(bank, kpis.satisfaction_trend, start=date(2025, 1, 1))
    assert [(p.month, p.rated, p.average) for p in trend] == [("2025-01", 1, 4.0), ("2025-02", 4, 3.0)]


def test_average_handling_time_per_step(bank):
    steps = run(bank, kpis.step_times, "complaint_handling")
    assert [(s.task_name, s.completed, s.avg_hours) for s in steps] == [("approve", 1, 1.5), ("investigate", 2, 4.0)]
    team = run(bank, kpis.step_times, "complaint_handling", assignees=("alice", "bob"))
    assert [(s.task_name, s.completed, s.avg_hours) for s in team] == [("investigate", 2, 4.0)]


def test_cross_sell_funnel_and_rate(bank):
    f = run(bank, kpis.cross_sell_funnel)
    assert (f.leads, f.contacted, f.interested, f.sold) == (6, 4, 3, 1)
    assert (f.blocked, f.declined, f.cancelled) == (1, 1, 1)
    assert f.cross_sell_rate == 0.25
    alice = run(bank, kpis.cross_sell_funnel, managers=("alice",))
    assert (alice.leads, alice.contacted, alice.sold, alice.blocked, alice.cross_sell_rate) == (3, 2, 1, 1, 0.5)


def test_revisit_completion_by_tier_and_manager(bank):
    rows = run(bank, kpis.revisit_completion)
    assert [(r.tier, r.manager, r.due, r.completed, r.on_time) for r in rows] == [
        ("gold", "alice", 1, 1, 1), ("gold", "bob", 1, 0, 0), ("mass", "alice", 1, 1, 0), ("platinum", "carol", 1, 1, 1)]
    assert rows[1].completion_rate == 0.0 and rows[0].completion_rate == 1.0
    gold = run(bank, kpis.revisit_completion, tier="gold")
    assert [(r.manager, r.due) for r in gold] == [("alice", 1), ("bob", 1)]


def test_care_coverage_per_greeting(bank):
    rows = run(bank, kpis.care_coverage)
    assert [(c.template, c.due, c.sent, c.refused_consent, c.refused_dnd, c.refused_other, c.failed, c.pending)
            for c in rows] == [("birthday_greeting", 3, 1, 1, 1, 0, 0, 0), ("holiday_greeting", 4, 0, 1, 0, 1, 1, 1)]


def test_scorecards_per_customer_manager(bank):
    cards = {c.manager: c for c in run(bank, scorecards)}
    alice, bob, carol = cards["alice"], cards["bob"], cards["carol"]
    assert (alice.customers, alice.new_customers) == (2, 1)
    assert (alice.aum_start, alice.aum_end, alice.aum_growth) == (Decimal("80000.00"), Decimal("120000.00"),
                                                                  Decimal("40000.00"))
    assert (alice.contacted, alice.sold, alice.cross_sell_rate) == (2, 1, 0.5)
    assert (alice.active_at_start, alice.attrited, alice.attrition_rate) == (1, 0, 0.0)
    assert (alice.complaints, alice.complaint_rate, alice.decided, alice.on_time, alice.on_time_rate) == (
        2, 1.0, 2, 1, 0.5)
    # bob: C3 closed and C5 dormant, both active on 2025-02-01
    assert (bob.customers, bob.aum_growth, bob.active_at_start, bob.attrited, bob.attrition_rate) == (
        1, Decimal("-50000.00"), 2, 2, 1.0)
    assert (bob.cross_sell_rate, bob.complaints, bob.on_time_rate) == (None, 1, 1.0)
    assert (carol.aum_start, carol.aum_growth, carol.attrition_rate, carol.cross_sell_rate) == (
        Decimal("0.00"), Decimal("500000.00"), None, 0.0)
    assert (carol.complaints, carol.complaint_rate, carol.on_time_rate) == (1, 1.0, None)
    assert [c.manager for c in run(bank, scorecards, managers=("bob", "carol"))] == ["bob", "carol"]


def test_scorecard_period_end_comes_from_the_next_months_snapshot(bank):
    taken = take_aum_snapshot(bank, date(2025, 3, 1))
    assert (taken.month, taken.customers, taken.taken) == (date(2025, 3, 1), 5, True)
    assert take_aum_snapshot(bank, date(2025, 3, 15)).taken is False  # the month is history now
    with unit_of_work(bank.sessions) as session:
        session.get_one(Customer, "C1").aum = Decimal("999999")
        session.get_one(Customer, "C1").status = "closed"
    alice = {c.manager: c for c in run(bank, scorecards)}["alice"]
    assert (alice.aum_end, alice.aum_growth, alice.attrited) == (Decimal("120000.00"), Decimal("40000.00"), 0)
    no_start = {c.manager: c for c in run(bank, scorecards, start=date(2025, 1, 1), end=date(2025, 1, 31))}
    # January: no snapshot of 2025-01-01, the end is the snapshot of 2025-02-01 (C1 only)
    assert no_start["alice"].aum_start is None and no_start["alice"].aum_end == Decimal("80000.00")


def test_process_analytics_per_version(bank):
    with bank.sessions() as session:
        [(v2_id, v2), (v1_id, v1)] = analytics.versions(session, "complaint_handling")
    stats = run(bank, analytics.version_stats, "complaint_handling")
    assert [(s.version, s.started, s.running, s.completed, s.failed, s.cancelled, s.ended_in_period) for s in stats] == [
        (2, 3, 1, 0, 1, 1, 0), (1, 4, 1, 3, 0, 0, 4)]
    # v1 cycle times ended in February: 1,000 s, 20,000 s, 36,000 s, 2,246,400 s (I5 started in January)
    assert (stats[1].p50_seconds, stats[1].p90_seconds, stats[1].p95_seconds) == (20000.0, 2246400.0, 2246400.0)
    assert stats[0].p50_seconds is None
    activities = run(bank, analytics.activity_times, "complaint_handling", v1_id)
    assert [(a.task_name, a.completed, a.avg_seconds) for a in activities] == [
        ("approve", 1, 5400.0), ("investigate", 2, 14400.0)]
    waits = run(bank, analytics.waits, "complaint_handling", v1_id)
    assert [(w.task_name, w.open, w.avg_age_seconds, w.max_age_seconds) for w in waits] == [
        ("acknowledge", 1, 518400.0, 518400.0), ("investigate", 2, 129600.0, 172800.0)]
    assert [(w.task_name, w.open) for w in run(bank, analytics.waits, "complaint_handling", v2_id)] == [("approve", 1)]


def test_nearest_rank_percentile():
    assert analytics.nearest_rank([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert analytics.nearest_rank([4.0, 1.0, 3.0, 2.0], 0.95) == 4.0
    assert analytics.nearest_rank([], 0.5) is None


def test_filter_options_list_each_branch_and_manager_once(bank):
    from engine.reporting import service as reports
    from engine.services import identity

    identity.create_user(bank, username="boss", roles=["supervisor"], groups=["team_a"])
    identity.create_user(bank, username="mgr", roles=["staff"], groups=["team_a"])
    add_customers(bank, customer("C9", manager=None, branch=None))  # neither counts
    options = reports.filter_options(bank, actor=identity.get_actor(bank, "boss"))
    assert options.branches == ("朝阳支行", "海淀支行")
    assert options.managers == ("alice", "bob", "carol")
    assert options.teams == ("team_a",)
    staff = reports.filter_options(bank, actor=identity.get_actor(bank, "mgr"))
    assert (staff.branches, staff.managers, staff.teams) == ((), (), ())
