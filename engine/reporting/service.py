"""Reports for managers: the KPI dashboard and process analytics, role-aware (issue 7, docs/domain.md §4.4, §1.7).

Who sees what:

- supervisors and admins see the whole bank and may filter by branch, team (its members' customers
  and work), customer manager and tier;
- staff (customer managers) see their own portfolio only: customers whose ``manager`` is their
  username, and their own work; a team or manager filter is ignored for them (branch and tier still
  narrow their portfolio);
- designers see process analytics only (as do supervisors and admins).

Every table of a report is also returned as a plain :class:`Table` (column keys and rows) for CSV and
Excel export, from the same query results as the page. Read-only: one read transaction per report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.context import EngineContext
from engine.customers.service import TIERS
from engine.db.models import Group, GroupMembership, ProcessDefinition, User
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, NotFoundError
from engine.reporting import analytics, kpis, scorecards
from engine.reporting.gather import gather
from engine.reporting.scope import Scope
from engine.services.authz import require_role
from engine.views import Actor

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366
COMPLAINT_PROCESS = "complaint_handling"


@dataclass(frozen=True)
class ReportFilters:
    start: date | None = None  # bank-local, inclusive; default: 30 days up to ``end``
    end: date | None = None  # default: today
    branch: str | None = None
    team: str | None = None
    manager: str | None = None
    tier: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Dashboard:
    filters: ReportFilters  # as applied (dates filled in; a staff member's own scope)
    own_portfolio: bool  # True: a customer manager's own view
    work: kpis.WorkSummary
    complaints: kpis.ComplaintVolume
    timeliness: kpis.ComplaintTimeliness
    satisfaction: tuple[kpis.SatisfactionPoint, ...]
    complaint_steps: tuple[kpis.StepTime, ...]
    funnel: kpis.Funnel
    revisits: tuple[kpis.RevisitRow, ...]
    care: tuple[kpis.CareRow, ...]
    tables: dict[str, Table] = field(default_factory=dict)


@dataclass(frozen=True)
class ScorecardReport:
    """Customer-manager scorecards: a page of their own (one row per manager, a pass over the portfolio)."""

    filters: ReportFilters
    own_portfolio: bool
    scorecards: tuple[scorecards.Scorecard, ...]
    tables: dict[str, Table] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessAnalytics:
    filters: ReportFilters
    key: str
    version: int | None  # the version whose activities and waits are shown (None: no version deployed)
    versions: tuple[analytics.VersionStat, ...]
    activities: tuple[analytics.ActivityTime, ...]
    waits: tuple[analytics.Wait, ...]
    tables: dict[str, Table] = field(default_factory=dict)


def _period(ctx: EngineContext, filters: ReportFilters) -> tuple[date, date]:
    end = filters.end or ctx.clock.now().astimezone(ctx.settings.zone).date()
    start = filters.start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInputError("the period starts after it ends", details={"fields": {"start": ["after end"]}})
    if (end - start).days > MAX_DAYS:
        raise InvalidInputError(f"a period is at most {MAX_DAYS} days", details={"fields": {"start": ["too early"]}})
    return start, end


def _team_members(session: Session, team: str) -> tuple[str, ...]:
    rows = session.scalars(select(User.username).join(GroupMembership, GroupMembership.user_id == User.id)
                           .join(Group, Group.id == GroupMembership.group_id).where(Group.name == team)
                           .order_by(User.username))
    return tuple(rows)


def _scope(ctx: EngineContext, session: Session, filters: ReportFilters, actor: Actor) -> tuple[Scope, ReportFilters,
                                                                                                   bool]:
    start, end = _period(ctx, filters)
    own = not actor.is_supervisor
    people: tuple[str, ...] | None = None
    if own:
        people, applied = (actor.username,), ReportFilters(start, end, filters.branch, None, actor.username,
                                                            filters.tier)
    else:
        applied = ReportFilters(start, end, filters.branch, filters.team, filters.manager, filters.tier)
        if filters.team:
            people = _team_members(session, filters.team)
        if filters.manager:
            people = tuple(p for p in (people if people is not None else (filters.manager,)) if p == filters.manager)
    scope = Scope(start, end, ctx.settings.zone, ctx.clock.now(), branch=filters.branch or None,
                  tier=filters.tier or None, managers=people, assignees=people)
    return scope, applied, own


def dashboard(ctx: EngineContext, *, actor: Actor, filters: ReportFilters = ReportFilters()) -> Dashboard:
    """The operations dashboard for the filters (staff: their own portfolio); scorecards are :func:`scorecard_report`.

    Raises PermissionDeniedError, InvalidInputError."""
    require_role(actor, "staff", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        scope, applied, own = _scope(ctx, session, filters, actor)
    parts = gather(ctx, {  # slowest first (measured with bench/reports.py)
        "complaint_steps": lambda s: kpis.step_times(s, scope, COMPLAINT_PROCESS),
        "work": lambda s: kpis.open_work(s, scope),
        "care": lambda s: kpis.care_coverage(s, scope),
        "timeliness": lambda s: kpis.complaint_timeliness(s, scope),
        "complaints": lambda s: kpis.complaint_volume(s, scope),
        "satisfaction": lambda s: kpis.satisfaction_trend(s, scope),
        "funnel": lambda s: kpis.cross_sell_funnel(s, scope),
        "revisits": lambda s: kpis.revisit_completion(s, scope),
    })
    board = Dashboard(applied, own, **parts)
    board.tables.update({t.name: t for t in dashboard_tables(board)})
    return board


def scorecard_report(ctx: EngineContext, *, actor: Actor, filters: ReportFilters = ReportFilters()) -> ScorecardReport:
    """One scorecard per customer manager in scope (staff: their own). Raises PermissionDeniedError, InvalidInputError."""
    require_role(actor, "staff", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        scope, applied, own = _scope(ctx, session, filters, actor)
    report = ScorecardReport(applied, own, scorecards.assemble(gather(ctx, scorecards.queries(scope))))
    report.tables["scorecards"] = scorecard_table(report.scorecards)
    return report


def process_analytics(ctx: EngineContext, key: str, *, actor: Actor, version: int | None = None,
                      filters: ReportFilters = ReportFilters()) -> ProcessAnalytics:
    """Per version of ``key``: instances, cycle-time percentiles; for one version (default: the latest)
    time per activity and open waits. Raises PermissionDeniedError, NotFoundError, InvalidInputError."""
    require_role(actor, "designer", "supervisor")
    start, end = _period(ctx, filters)
    scope = Scope(start, end, ctx.settings.zone, ctx.clock.now())
    with unit_of_work(ctx.sessions, write=False) as session:
        known = analytics.versions(session, key)
        if not known:
            raise NotFoundError(f"no process {key!r} is deployed")
        chosen = next(((i, v) for i, v in known if v == version), None) if version is not None else known[0]
        if chosen is None:
            raise NotFoundError(f"process {key!r} has no version {version}")
        definition_id, shown = chosen
    parts = gather(ctx, {"activities": lambda s: analytics.activity_times(s, scope, key, definition_id),
                         "waits": lambda s: analytics.waits(s, scope, key, definition_id),
                         "versions": lambda s: analytics.version_stats(s, scope, key)})
    result = ProcessAnalytics(ReportFilters(start, end), key, shown, **parts)
    result.tables.update({t.name: t for t in analytics_tables(result)})
    return result


@dataclass(frozen=True)
class FilterOptions:
    branches: tuple[str, ...]
    teams: tuple[str, ...]
    managers: tuple[str, ...]
    tiers: tuple[str, ...]


def filter_options(ctx: EngineContext, *, actor: Actor) -> FilterOptions:
    """What the dashboard's filters offer: branches, teams and managers for supervisors; tiers for all."""
    require_role(actor, "staff", "supervisor")
    if not actor.is_supervisor:
        return FilterOptions((), (), (), TIERS)
    with unit_of_work(ctx.sessions, write=False) as session:
        teams = session.scalars(select(Group.name).order_by(Group.name))
        return FilterOptions(_distinct(session, "branch"), tuple(teams), _distinct(session, "manager"), TIERS)


# The distinct values of an indexed customer column, one index probe per value (a "skip scan"): a plain
# DISTINCT reads every customer's index entry, 100,000 of them for 200 managers.
_SKIP_SCAN = """
WITH RECURSIVE found(value) AS (
    SELECT (SELECT {column} FROM customer WHERE {column} IS NOT NULL ORDER BY {column} LIMIT 1)
    UNION ALL
    SELECT (SELECT {column} FROM customer WHERE {column} > found.value ORDER BY {column} LIMIT 1)
    FROM found WHERE found.value IS NOT NULL
)
SELECT value FROM found WHERE value IS NOT NULL
"""
_SKIP_SCANS = {column: text(_SKIP_SCAN.format(column=column)) for column in ("branch", "manager")}


def _distinct(session: Session, column: str) -> tuple[str, ...]:
    return tuple(sorted(str(value) for value in session.scalars(_SKIP_SCANS[column])))


def process_keys(ctx: EngineContext, *, actor: Actor) -> tuple[str, ...]:
    """Keys of the deployed processes (for the analytics page's choice)."""
    require_role(actor, "designer", "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        return tuple(session.scalars(select(ProcessDefinition.key).distinct().order_by(ProcessDefinition.key)))


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def dashboard_tables(d: Dashboard) -> list[Table]:
    t = d.timeliness
    return [
        Table("work", ("assignee", "open", "overdue"), tuple((r.assignee or "", r.open, r.overdue) for r in d.work.rows)),
        *(Table(f"complaints_by_{dim}", (dim, "complaints"), tuple((c.key, c.count) for c in counts))
          for dim, counts in (("channel", d.complaints.by_channel), ("business_type", d.complaints.by_business_type),
                              ("cause", d.complaints.by_cause))),
        Table("complaint_timeliness",
              ("received", "decided", "within_15", "within_30", "within_60", "share_15", "share_30", "share_60",
               "on_time", "on_time_rate", "review_requests"),
              ((t.received, t.decided, t.within_15, t.within_30, t.within_60, _rate(t.share_15), _rate(t.share_30),
                _rate(t.share_60), t.on_time, _rate(t.on_time_rate), t.review_requests),)),
        Table("satisfaction", ("month", "rated", "average"), tuple((p.month, p.rated, p.average) for p in d.satisfaction)),
        Table("complaint_steps", ("task", "completed", "avg_hours"),
              tuple((s.task_name, s.completed, "" if s.avg_hours is None else s.avg_hours) for s in d.complaint_steps)),
        Table("cross_sell_funnel", ("leads", "contacted", "interested", "sold", "blocked", "declined", "cancelled",
                                    "cross_sell_rate"),
              ((d.funnel.leads, d.funnel.contacted, d.funnel.interested, d.funnel.sold, d.funnel.blocked,
                d.funnel.declined, d.funnel.cancelled, _rate(d.funnel.cross_sell_rate)),)),
        Table("revisits", ("tier", "manager", "due", "completed", "on_time", "completion_rate"),
              tuple((r.tier, r.manager or "", r.due, r.completed, r.on_time, _rate(r.completion_rate))
                    for r in d.revisits)),
        Table("care", ("template", "due", "sent", "refused_consent", "refused_dnd", "refused_other", "failed",
                       "pending"),
              tuple((c.template, c.due, c.sent, c.refused_consent, c.refused_dnd, c.refused_other, c.failed, c.pending)
                    for c in d.care)),
    ]


def scorecard_table(cards: tuple[scorecards.Scorecard, ...]) -> Table:
    return Table("scorecards", ("manager", "customers", "new_customers", "aum_start", "aum_end", "aum_growth",
                                "contacted", "sold", "cross_sell_rate", "active_at_start", "attrited", "attrition_rate",
                                "complaints", "complaint_rate", "decided", "on_time", "on_time_rate"),
                 tuple((s.manager, s.customers, s.new_customers, _money(s.aum_start), _money(s.aum_end),
                        _money(s.aum_growth), s.contacted, s.sold, _rate(s.cross_sell_rate), s.active_at_start,
                        s.attrited, _rate(s.attrition_rate), s.complaints, _rate(s.complaint_rate), s.decided,
                        s.on_time, _rate(s.on_time_rate)) for s in cards))


def analytics_tables(a: ProcessAnalytics) -> list[Table]:
    def blank(value: float | None) -> Any:
        return "" if value is None else value

    return [
        Table("versions", ("version", "started", "running", "completed", "failed", "cancelled", "ended_in_period",
                           "p50_seconds", "p90_seconds", "p95_seconds"),
              tuple((v.version, v.started, v.running, v.completed, v.failed, v.cancelled, v.ended_in_period,
                     blank(v.p50_seconds), blank(v.p90_seconds), blank(v.p95_seconds)) for v in a.versions)),
        Table("activities", ("task", "completed", "avg_seconds"),
              tuple((x.task_name, x.completed, blank(x.avg_seconds)) for x in a.activities)),
        Table("waits", ("task", "open", "avg_age_seconds", "max_age_seconds"),
              tuple((w.task_name, w.open, w.avg_age_seconds, w.max_age_seconds) for w in a.waits)),
    ]
