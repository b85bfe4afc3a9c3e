"""The supervisor desk: workload and overdue work per person, failed instances, dead letters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.errors import ConflictError
from engine.services import calendar as business_calendar
from engine.services import instances, outbox, sla, supervision
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")


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
        sla_rows=sla.sla_board(ctx, actor=actor), calendar_attention=business_calendar.attention(ctx),
    )


@bp.post("/instances/<instance_id>/retry")
@login_required
def retry_instance(instance_id: str) -> Any:
    check_csrf()
    try:
        view = instances.retry_instance(current_engine(), instance_id, actor=current_actor())
        flash(_("Retried: %(status)s", status=view.status))
    except ConflictError as exc:
        flash(exc.message)
    return redirect(url_for("supervisor.index"))


@bp.post("/outbox/<int:message_id>/retry")
@login_required
def retry_message(message_id: int) -> Any:
    check_csrf()
    try:
        outbox.retry_message(current_engine(), message_id, actor=current_actor())
        flash(_("Message queued again"))
    except ConflictError as exc:
        flash(exc.message)
    return redirect(url_for("supervisor.index"))
