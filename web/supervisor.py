"""The supervisor desk: workload and overdue work per person, failed instances, dead letters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from engine import inputs
from engine.care.waves import recent_waves
from engine.errors import ConflictError, EngineError, InvalidInputError
from engine.services import calendar as business_calendar
from engine.services import instances, outbox, scheduler_health, sla, supervision
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")

# The scheduler's jobs in words (engine.scheduler); a new job adds its name here.
JOB_NAMES = {
    "timers.sweep": _l("Process timers"),
    "outbox.dispatch": _l("Outgoing messages"),
    "sla.breaches": _l("SLA breach checks"),
    "care.scans": _l("Daily care scans"),
    "audit.daily_check": _l("Nightly audit-trail check"),
    "retention.daily": _l("Nightly history retention"),
}


def stopped_jobs(ctx: Any) -> list[dict[str, Any]]:
    """The scheduler jobs whose heartbeats went stale everywhere, named in words, with their last successful run."""
    return [{"name": JOB_NAMES.get(job.job, _l("Another scheduled job")), "last_success": job.last_success,
             "last_heartbeat": job.beat_at} for job in scheduler_health.health(ctx).stale_jobs]


@bp.get("")
@login_required
def index() -> Any:
    ctx, actor = current_engine(), current_actor()
    if not actor.is_supervisor:
        abort(403)
    return render_template(
        "supervisor.html", actor=actor, workload=supervision.workload(ctx, actor=actor),
        failed=supervision.failed_instances(ctx, actor=actor),
        dead=outbox.list_messages(ctx, actor=actor, status="dead", limit=50),
        held=outbox.list_messages(ctx, actor=actor, status="held", limit=200),
        sla_rows=sla.sla_board(ctx, actor=actor), calendar_attention=business_calendar.attention(ctx),
        stopped_jobs=stopped_jobs(ctx), waves=recent_waves(ctx),
    )


@bp.post("/instances/<instance_id>/retry")
@login_required
def retry_instance(instance_id: str) -> Any:
    """Retry an incident, optionally with corrected data (patch-and-retry: a JSON object of variables)."""
    check_csrf()
    if not current_actor().is_supervisor:
        abort(403)
    try:
        patch = _patch(request.form.get("patch", ""))
        view = instances.retry_instance(current_engine(), instance_id, actor=current_actor(), data=patch)
        if view.status == "error":
            flash(_("Retried, and it failed again: %(message)s", message=(view.error or {}).get("message", "")), "error")
        else:
            flash(_("Retried: the instance runs again"), "success")
    except EngineError as exc:
        flash(exc.message, "error")
    return redirect(url_for("supervisor.index"))


def _patch(text: str) -> dict[str, Any] | None:
    if not text.strip():
        return None
    try:
        value = inputs.loads(text, _("corrected data"), current_engine().settings.inputs.json_max_depth)
    except ValueError as exc:
        raise InvalidInputError(_("The corrected data must be a JSON object of variable names and values")) from exc
    if not isinstance(value, dict):
        raise InvalidInputError(_("The corrected data must be a JSON object of variable names and values"))
    return value


@bp.post("/instances/<instance_id>/terminate")
@login_required
def terminate_instance(instance_id: str) -> Any:
    """End an instance for good (always possible, even when its state cannot be read), with the reason."""
    check_csrf()
    if not current_actor().is_supervisor:
        abort(403)
    reason = request.form.get("reason", "").strip()
    try:
        if not reason:
            raise InvalidInputError(_("Say why the instance is terminated: the reason is recorded"))
        instances.cancel_instance(current_engine(), instance_id, actor=current_actor(), reason=reason)
        flash(_("Instance terminated"), "success")
    except EngineError as exc:
        flash(exc.message, "error")
    return redirect(url_for("supervisor.index"))


@bp.post("/outbox/release")
@login_required
def release_messages() -> Any:
    """Send the messages a restore held: one (``message_id``) or all of them."""
    check_csrf()
    if not current_actor().is_supervisor:
        abort(403)
    chosen = request.form.get("message_id", "")
    try:
        ids = None if request.form.get("all") == "1" else [int(chosen)]
    except ValueError:
        abort(400, description=_("Name the message to release"))
    try:
        released = outbox.release_messages(current_engine(), ids, actor=current_actor())
        flash(_("%(count)s message(s) released for sending", count=released), "success")
    except EngineError as exc:
        flash(exc.message, "error")
    return redirect(url_for("supervisor.index"))


@bp.post("/outbox/<int:message_id>/retry")
@login_required
def retry_message(message_id: int) -> Any:
    check_csrf()
    try:
        outbox.retry_message(current_engine(), message_id, actor=current_actor())
        flash(_("Message queued again"), "success")
    except ConflictError as exc:
        flash(exc.message, "error")
    return redirect(url_for("supervisor.index"))
