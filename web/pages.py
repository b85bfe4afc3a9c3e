"""Server-rendered pages: health check, login, and the home page (processes and my tasks)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import text

from engine.errors import AuthenticationError, RateLimitedError
from engine.services import definitions, identity, operations, scheduler_health, tasks
from web import second_factor
from web.auth import check_csrf, client_address, csrf_token, current_actor, sign_out
from web.engine_access import current_engine

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    zone = current_engine().settings.zone

    def local(moment: Any) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"

    return {"csrf_token": csrf_token, "local": local, "zone": current_engine().settings.core.timezone, "zone_info": zone}


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness of this web node (HTTP 200 while it answers and reaches the database) and, in the body, whether the
    scheduler's jobs are alive: a stopped scheduler makes the status "degraded" but keeps the 200, since taking web
    nodes out of the load balancer would not bring it back (engine.services.scheduler_health)."""
    ctx = current_engine()
    with ctx.db.connect() as conn:
        conn.execute(text("SELECT 1"))
    health = scheduler_health.health(ctx)

    def iso(moment: Any) -> str | None:
        return moment.isoformat() if moment else None

    scheduler = {
        "status": health.status,
        "stale_jobs": [job.job for job in health.stale_jobs],
        "stale_processes": len(health.stale_nodes),  # how many, not their host names: this page is public
        "jobs": {job.job: {"stale": job.stale, "last_heartbeat": iso(job.beat_at), "last_start": iso(job.last_start),
                           "last_success": iso(job.last_success), "last_error_at": iso(job.last_error_at),
                           "next_due": iso(job.next_due)} for job in health.jobs},
    }
    return jsonify({"status": "degraded" if health.status == "degraded" else "ok", "database": "ok",
                    "scheduler": scheduler})


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness for a load balancer or an orchestrator: 200 when this node may take traffic (the database answers,
    its schema is at this code's migration head, the scheduler's jobs beat), else 503 naming what is wrong
    (engine.services.operations.readiness). Liveness stays /healthz."""
    found = operations.readiness(current_engine())
    return jsonify({"status": "ready" if found.ready else "not ready", "checks": found.checks}), \
        200 if found.ready else 503


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        check_csrf()
        try:
            actor = identity.authenticate_password(
                current_engine(), request.form.get("username", ""), request.form.get("password", ""),
                ip=client_address(),
            )
        except AuthenticationError:
            flash(_("Wrong user name or password"), "error")
            return render_template("login.html"), 401
        except RateLimitedError as exc:
            flash(_("Too many wrong passwords: try again in %(seconds)s seconds", seconds=exc.retry_after))
            response = make_response(render_template("login.html"), 429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        target = request.args.get("next", "")
        if not target.startswith("/") or urlparse(target).netloc:
            target = url_for("inbox.index")
        return second_factor.begin(actor, target)
    return render_template("login.html")


@bp.post("/logout")
@login_required
def logout() -> Any:
    check_csrf()
    sign_out()
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
