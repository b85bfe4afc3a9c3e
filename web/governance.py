"""Pages for the second person: the approvals waiting for a decision, and the grants (administrators).

Views parse the form, call one engine service (engine.services.approvals, engine.services.grants), and come back
to the page with a message; refusals are shown as messages on the page, never as raw errors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine import authz
from engine.authz.catalogue import PERMISSIONS, RESOURCE_LABELS
from engine.errors import EngineError
from engine.services import approvals, grants
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("governance", __name__)

APPROVAL_TABS = ("pending", "approved", "rejected", "failed", "all")  # labels: web/labels.py approval_status


@bp.get("/approvals")
@login_required
def approvals_page() -> Any:
    ctx, actor = current_engine(), current_actor()
    status = request.args.get("status", "pending")
    views = approvals.list_approvals(ctx, actor=actor, status=None if status == "all" else status)
    decidable = {v.id for v in views if approvals.may_decide(ctx, v, actor)}
    return render_template("approvals.html", actor=actor, items=views, decidable=decidable, status=status,
                           tabs=APPROVAL_TABS)


@bp.post("/approvals/<int:approval_id>/<decision>")
@login_required
def decide(approval_id: int, decision: str) -> Any:
    check_csrf()
    ctx, actor = current_engine(), current_actor()
    try:
        if decision == "approve":
            approvals.approve(ctx, approval_id, actor=actor)
            flash(_("Approved and applied"), "success")
        elif decision == "reject":
            approvals.reject(ctx, approval_id, actor=actor, reason=request.form.get("reason", ""))
            flash(_("Rejected"), "success")
        else:
            abort(404)
    except EngineError as exc:
        flash(exc.message, "error")
    return redirect(url_for("governance.approvals_page"))


@bp.get("/admin/grants")
@login_required
def grants_page() -> Any:
    ctx, actor = current_engine(), current_actor()
    if not authz.allows(ctx, actor, "grants", "system", "grants"):
        abort(403)
    return render_template("admin_grants.html", actor=actor, grants=grants.list_grants(ctx, actor=actor),
                           permissions=PERMISSIONS, resources=RESOURCE_LABELS)


@bp.post("/admin/grants")
@login_required
def request_grant() -> Any:
    check_csrf()
    ctx, actor, form = current_engine(), current_actor(), request.form
    try:
        spec = grants.parse(form.get("principal", "").strip(), form.get("resource_kind", ""),
                            form.get("resource_id", "").strip(), form.get("permission", ""))
        view = grants.request_grant(ctx, spec, actor=actor)
        flash(_("Asked: a second administrator approves it on the approvals page (#%(id)s)", id=view.id), "success")
    except EngineError as exc:
        flash(exc.message, "error")
    return redirect(url_for("governance.grants_page"))


@bp.post("/admin/grants/<int:grant_id>/revoke")
@login_required
def revoke_grant(grant_id: int) -> Any:
    check_csrf()
    try:
        grants.revoke_grant(current_engine(), grant_id, actor=current_actor())
        flash(_("Grant revoked"), "success")
    except EngineError as exc:
        flash(exc.message, "error")
    return redirect(url_for("governance.grants_page"))
