"""Server-rendered pages: health check, login, and the home page (processes and my tasks)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from sqlalchemy import text

from engine.errors import AuthenticationError
from engine.services import definitions, identity, tasks
from web.auth import SessionUser, check_csrf, csrf_token, current_actor
from web.engine_access import current_engine

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    zone = current_engine().settings.zone

    def local(moment: Any) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"

    return {"csrf_token": csrf_token, "local": local, "zone": current_engine().settings.timezone, "zone_info": zone}


@bp.get("/healthz")
def healthz() -> Any:
    with current_engine().db.connect() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": "ok"})


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        check_csrf()
        try:
            actor = identity.authenticate_password(
                current_engine(), request.form.get("username", ""), request.form.get("password", "")
            )
        except AuthenticationError:
            flash(_("Wrong user name or password"), "error")
            return render_template("login.html"), 401
        login_user(SessionUser(actor))
        target = request.args.get("next", "")
        if not target.startswith("/") or urlparse(target).netloc:
            target = url_for("inbox.index")
        return redirect(target)
    return render_template("login.html")


@bp.post("/logout")
@login_required
def logout() -> Any:
    check_csrf()
    logout_user()
    return redirect(url_for("pages.login"))


@bp.get("/")
@login_required
def home() -> Any:
    ctx, actor = current_engine(), current_actor()
    return render_template(
        "home.html",
        actor=actor,
        definitions=definitions.list_definitions(ctx),
        mine=tasks.list_tasks(ctx, actor=actor, view="mine").items,
        queue=tasks.list_tasks(ctx, actor=actor, view="queue").items,
    )
