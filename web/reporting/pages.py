"""Reports for managers (/reports): the KPI dashboard, process analytics, CSV and Excel export of every table.

Views parse the filters, call one engine service (``engine.reporting.service``, which decides what the
caller may see), render. Charts are drawn by ``web/static/build/reports.js`` (Chart.js, bundled from
npm) from the page's JSON block — the Content-Security-Policy allows no inline script. The same
figures are served as JSON under ``/api/v1/reports/…``.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from engine.errors import InvalidInputError
from engine.reporting import service as reports
from web import labels
from web.api import INT32_MAX, int_arg, to_json
from web.api import bp as api_bp
from web.auth import current_actor, token_required
from web.designer import page_data
from web.engine_access import current_engine

bp = Blueprint("reports", __name__, url_prefix="/reports")
FILTERS = ("start", "end", "branch", "team", "manager", "tier")
FORMATS = ("csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

TITLES = {
    "work": _l("Open and overdue work"), "complaints_by_channel": _l("Complaints by channel"),
    "complaints_by_business_type": _l("Complaints by business type"), "complaints_by_cause": _l("Complaints by cause"),
    "complaint_timeliness": _l("Complaint timeliness"), "satisfaction": _l("Satisfaction by month"),
    "complaint_steps": _l("Average handling time per step"), "cross_sell_funnel": _l("Cross-sell funnel"),
    "revisits": _l("Revisit completion"), "care": _l("Care coverage"), "scorecards": _l("Customer manager scorecards"),
    "versions": _l("Instances and cycle time per version"), "activities": _l("Time per activity"),
    "waits": _l("Where instances wait"),
}
LABELS = {
    "assignee": _l("Assignee"), "open": _l("Open"), "overdue": _l("Overdue"), "channel": _l("Channel"),
    "business_type": _l("Business type"), "cause": _l("Cause"), "complaints": _l("Complaints"),
    "received": _l("Received"), "decided": _l("Decided"), "within_15": _l("≤ 15 days"), "within_30": _l("≤ 30 days"),
    "within_60": _l("≤ 60 days"), "share_15": _l("Share ≤ 15 days"), "share_30": _l("Share ≤ 30 days"),
    "share_60": _l("Share ≤ 60 days"), "on_time": _l("On time"), "on_time_rate": _l("On-time rate"),
    "review_requests": _l("Review requests"), "month": _l("Month"), "rated": _l("Rated"), "average": _l("Average"),
    "task": _l("Task"), "completed": _l("Completed"), "avg_hours": _l("Mean hours"), "leads": _l("Leads"),
    "contacted": _l("Contacted"), "interested": _l("Interested"), "sold": _l("Sold"),
    "blocked": _l("Refused (suitability)"), "declined": _l("Declined"), "cancelled": _l("Cancelled"),
    "cross_sell_rate": _l("Cross-sell rate"), "tier": _l("Tier"), "manager": _l("Manager"), "due": _l("Due"),
    "completion_rate": _l("Completion rate"), "template": _l("Greeting"), "sent": _l("Sent"),
    "refused_consent": _l("Refused: consent"), "refused_dnd": _l("Refused: do not disturb"),
    "refused_other": _l("Refused: other"), "failed": _l("Failed"), "pending": _l("Pending"),
    "customers": _l("Customers"), "new_customers": _l("New customers"), "aum_start": _l("AUM at start"),
    "aum_end": _l("AUM at end"), "aum_growth": _l("AUM growth"), "active_at_start": _l("Active at start"),
    "attrited": _l("Lost"), "attrition_rate": _l("Attrition"), "complaint_rate": _l("Complaint rate"),
    "version": _l("Version"), "started": _l("Started"), "running": _l("Running"), "ended_in_period": _l("Ended"),
    "p50_seconds": _l("Cycle p50 (s)"), "p90_seconds": _l("Cycle p90 (s)"), "p95_seconds": _l("Cycle p95 (s)"),
    "avg_seconds": _l("Mean (s)"), "avg_age_seconds": _l("Mean wait (s)"), "max_age_seconds": _l("Longest wait (s)"),
}


def _date(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be a date (YYYY-MM-DD)",
                                details={"fields": {name: ["not a date"]}}) from None


def parse_filters() -> reports.ReportFilters:
    text = {name: request.args.get(name, "").strip()[:128] or None for name in ("branch", "team", "manager", "tier")}
    return reports.ReportFilters(start=_date("start"), end=_date("end"), **text)


def _query(filters: reports.ReportFilters) -> dict[str, str]:
    """The applied filters as query arguments (export links repeat exactly what the page shows)."""
    return {name: str(getattr(filters, name)) for name in FILTERS if getattr(filters, name) is not None}


def _people(table: reports.Table, key: str) -> tuple[list[str], list[list[Any]]]:
    """Headers and codes in the reader's language; numbers stay numbers so that a spreadsheet can sum them."""
    header = [str(LABELS.get(c, c)) for c in table.columns]
    rows = [[labels.report_code(v, c, key) for v, c in zip(row, table.columns, strict=True)] for row in table.rows]
    return header, rows


def export(table: reports.Table, fmt: str, stem: str, key: str = "complaint_handling") -> Response:
    header, rows = _people(table, key)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        # A byte-order mark, so that Excel opens the UTF-8 (Chinese names) correctly.
        body, mimetype = ("\ufeff" + buffer.getvalue()).encode(), "text/csv; charset=utf-8"
    else:
        body, mimetype = _xlsx(table.name, header, rows), XLSX
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{stem}-{table.name}.{fmt}"'
    return response


def _xlsx(name: str, header: list[str], rows: list[list[Any]]) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(name[:31])
    for col, title in enumerate(header):
        sheet.write(0, col, title)
    for row, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            sheet.write(row, col, value)
    book.close()
    return buffer.getvalue()


def _chart_data(board: reports.Dashboard) -> dict[str, Any]:
    t = board.tables
    return {
        "labels": {k: str(v) for k, v in LABELS.items()},
        "charts": {name: _chart_table(t[name]) for name in CHARTS},
        "noData": _("No data for these filters"),
    }


CHARTS = ("work", "complaints_by_channel", "complaints_by_cause", "satisfaction", "cross_sell_funnel", "care", "revisits")


def _chart_table(table: reports.Table, key: str = "complaint_handling") -> dict[str, Any]:
    """A table for Chart.js: codes on the axes as labels (the series keep their numbers)."""
    _, rows = _people(table, key)
    return {"columns": table.columns, "rows": [list(map(_plain, r)) for r in rows]}


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str)) or value is None else str(value)


@bp.get("")
@login_required
def dashboard() -> Any:
    ctx, actor = current_engine(), current_actor()
    if not actor.has_role("staff", "supervisor"):
        abort(403)
    board = reports.dashboard(ctx, actor=actor, filters=parse_filters())
    return render_template("reports/dashboard.html", actor=actor, board=board, options=reports.filter_options(
        ctx, actor=actor), query=_query(board.filters), titles=TITLES, labels=LABELS,
        data=page_data(_chart_data(board)), chart_rows={name: board.tables[name].rows for name in CHARTS})


@bp.get("/scorecards")
@login_required
def scorecards() -> Any:
    ctx, actor = current_engine(), current_actor()
    if not actor.has_role("staff", "supervisor"):
        abort(403)
    report = reports.scorecard_report(ctx, actor=actor, filters=parse_filters())
    return render_template("reports/scorecards.html", actor=actor, board=report, options=reports.filter_options(
        ctx, actor=actor), query=_query(report.filters), titles=TITLES, labels=LABELS)


@bp.get("/export/<name>.<fmt>")
@login_required
def export_dashboard(name: str, fmt: str) -> Any:
    """One table of the dashboard or the scorecards, for the same filters (only that report is computed)."""
    if fmt not in FORMATS:
        abort(404)
    ctx, actor, filters = current_engine(), current_actor(), parse_filters()
    report = (reports.scorecard_report(ctx, actor=actor, filters=filters) if name == "scorecards"
              else reports.dashboard(ctx, actor=actor, filters=filters))
    if name not in report.tables:
        abort(404)
    return export(report.tables[name], fmt, f"careflow-{report.filters.start}-{report.filters.end}")


@bp.get("/processes")
@login_required
def processes() -> Any:
    ctx, actor = current_engine(), current_actor()
    if not actor.has_role("designer", "supervisor"):
        abort(403)
    keys = reports.process_keys(ctx, actor=actor)
    key = request.args.get("key") or (keys[0] if keys else None)
    result = None
    if key is not None:
        result = reports.process_analytics(ctx, key, actor=actor, version=request.args.get("version", type=int),
                                           filters=parse_filters())
    chart = {} if result is None else {
        "labels": {k: str(v) for k, v in LABELS.items()},
        "charts": {n: _chart_table(t, result.key) for n, t in result.tables.items()},
        "noData": _("No data for these filters")}
    query = {} if result is None else {**_query(result.filters), "key": key}
    return render_template("reports/processes.html", actor=actor, keys=keys, result=result, query=query,
                           titles=TITLES, labels=LABELS, data=page_data(chart))


@bp.get("/processes/<key>/export/<name>.<fmt>")
@login_required
def export_process(key: str, name: str, fmt: str) -> Any:
    if fmt not in FORMATS:
        abort(404)
    result = reports.process_analytics(current_engine(), key, actor=current_actor(),
                                       version=request.args.get("version", type=int), filters=parse_filters())
    if name not in result.tables:
        abort(404)
    return export(result.tables[name], fmt, f"careflow-{key}-v{result.version}", key)


# --- REST (/api/v1/reports/…) ------------------------------------------------------------------------------------------

def _tables_json(tables: dict[str, reports.Table]) -> dict[str, Any]:
    return {name: {"columns": list(t.columns), "rows": [list(map(_plain, r)) for r in t.rows]}
            for name, t in tables.items()}


@api_bp.get("/reports/dashboard")
@token_required
def api_dashboard() -> Any:
    ctx, filters = current_engine(), parse_filters()
    board = reports.dashboard(ctx, actor=g.actor, filters=filters)
    cards = reports.scorecard_report(ctx, actor=g.actor, filters=filters)
    return jsonify({"filters": to_json(_query(board.filters)), "own_portfolio": board.own_portfolio,
                    "tables": _tables_json({**board.tables, **cards.tables})})


@api_bp.get("/reports/processes/<key>")
@token_required
def api_process_analytics(key: str) -> Any:
    result = reports.process_analytics(current_engine(), key, actor=g.actor,
                                       version=int_arg("version", INT32_MAX), filters=parse_filters())
    return jsonify({"key": result.key, "version": result.version, "filters": _query(result.filters),
                    "tables": _tables_json(result.tables)})
