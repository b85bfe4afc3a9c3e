"""Administration: users with roles, groups and skills, absences, API tokens. Every change is audited."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.errors import ConflictError, InvalidInputError, NotFoundError
from engine.services import identity
from web.auth import check_csrf, current_actor
from web.engine_access import current_engine

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]


@bp.get("/users")
@login_required
def users() -> Any:
    actor = current_actor()
    if not actor.has_role("supervisor"):  # admins pass has_role checks too
        abort(403)
    return render_template("admin_users.html", actor=actor, users=identity.list_users(current_engine()))


@bp.post("/users")
@login_required
def add_user() -> Any:
    check_csrf()
    actor = current_actor()
    if not actor.has_role("admin"):
        abort(403)
    form = request.form
    try:
        identity.create_user(current_engine(), username=form.get("username", "").strip(), roles=_split(form.get("roles", "")),
                             groups=_split(form.get("groups", "")), password=form.get("password") or None,
                             display_name=form.get("display_name") or None, actor=actor.username)
        flash(_("User created"))
    except (InvalidInputError, ConflictError) as exc:
        flash(exc.message)
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/<action>")
@login_required
def change(username: str, action: str) -> Any:
    check_csrf()
    ctx, actor, form = current_engine(), current_actor(), request.form
    try:
        if action == "update":
            identity.update_user(ctx, username, actor=actor, roles=_split(form.get("roles", "")),
                                 groups=_split(form.get("groups", "")), skills=_split(form.get("skills", "")))
            flash(_("Saved"))
        elif action == "absent":
            until_text = form.get("until", "").strip()
            until = datetime.combine(datetime.fromisoformat(until_text).date(), time(23, 59), tzinfo=ctx.settings.zone) \
                if until_text else None
            moved = identity.set_absence(ctx, username, until=until, actor=actor)
            flash(_("Absence saved; %(count)s tasks back in the queue", count=moved))
        elif action == "revoke":
            flash(_("%(count)s tokens revoked", count=identity.revoke_tokens(ctx, username, actor=actor)))
        else:
            abort(404)
    except (InvalidInputError, NotFoundError, ValueError) as exc:
        flash(getattr(exc, "message", str(exc)))
    return redirect(url_for("admin.users"))
