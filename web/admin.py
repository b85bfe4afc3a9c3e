"""Administration: users with roles, groups and skills, absences, API tokens; the business calendar.
Every change is audited."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from engine.services import approvals, identity
from engine.services import calendar as business_calendar
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
        result = identity.add_user(current_engine(), username=form.get("username", "").strip(),
                                   roles=_split(form.get("roles", "")), groups=_split(form.get("groups", "")),
                                   password=form.get("password") or None, display_name=form.get("display_name") or None,
                                   by=actor)
        if isinstance(result, approvals.ApprovalView):
            flash(_("A privileged role needs a second administrator: the new user waits for approval (#%(id)s)",
                    id=result.id), "success")
        else:
            flash(_("User created"), "success")
    except (InvalidInputError, ConflictError, PermissionDeniedError) as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/<action>")
@login_required
def change(username: str, action: str) -> Any:
    check_csrf()
    ctx, actor, form = current_engine(), current_actor(), request.form
    try:
        if action == "update":
            view = identity.update_user(ctx, username, actor=actor, roles=_split(form.get("roles", "")),
                                        groups=_split(form.get("groups", "")), skills=_split(form.get("skills", "")))
            if view.approval_id is not None:
                flash(_("Saved; the privileged role waits for a second administrator (#%(id)s)", id=view.approval_id),
                      "success")
            else:
                flash(_("Saved"), "success")
        elif action == "absent":
            until_text = form.get("until", "").strip()
            until = datetime.combine(datetime.fromisoformat(until_text).date(), time(23, 59), tzinfo=ctx.settings.zone) \
                if until_text else None
            moved = identity.set_absence(ctx, username, until=until, actor=actor)
            flash(_("Absence saved; %(count)s tasks back in the queue", count=moved), "success")
        elif action == "revoke":
            flash(_("%(count)s tokens revoked", count=identity.revoke_tokens(ctx, username, actor=actor)), "success")
        elif action == "lock":
            identity.lock_user(ctx, username, actor=actor)
            flash(_("Account locked: its sessions have ended and its tokens are refused"), "success")
        elif action == "unlock":
            identity.unlock_user(ctx, username, actor=actor)
            flash(_("Account unlocked; its count of wrong passwords is cleared"), "success")
        else:
            abort(404)
    except (InvalidInputError, NotFoundError, PermissionDeniedError, ValueError) as exc:
        flash(getattr(exc, "message", str(exc)), "error")
    return redirect(url_for("admin.users"))


@bp.get("/calendar")
@login_required
def calendar_page() -> Any:
    """The business calendar: where this and next year's working days come from, the bank's table, changes."""
    ctx, actor = current_engine(), current_actor()
    if not actor.has_role("supervisor"):
        abort(403)
    status = business_calendar.calendar_status(ctx)
    days = {year.year: business_calendar.list_days(ctx, year.year) for year in status.years}
    return render_template("admin_calendar.html", actor=actor, status=status, days=days)


@bp.post("/calendar/<action>")
@login_required
def calendar_change(action: str) -> Any:
    """import (a year's table from the text box or an uploaded file), set or unset a day, remove a year's table."""
    check_csrf()
    ctx, actor, form = current_engine(), current_actor(), request.form
    try:
        if action == "import":
            upload = request.files.get("file")
            text = upload.read().decode("utf-8-sig") if upload and upload.filename else form.get("table", "")
            year = int(form.get("year", ""))
            entries = business_calendar.parse_table(text)
            view = business_calendar.import_year(ctx, year=year, entries=entries, source=form.get("source", ""),
                                                 actor=actor)
            flash(_("%(year)s loaded: %(rest)s rest days, %(work)s shifted working days", year=year,
                    rest=view.rest_days, work=view.work_days), "success")
        elif action == "set":
            day = date.fromisoformat(form.get("day", ""))
            business_calendar.set_day(ctx, day=day, workday=form.get("kind") == "work", name=form.get("name", ""),
                                      actor=actor)
            flash(_("Saved"), "success")
        elif action == "unset":
            business_calendar.remove_day(ctx, day=date.fromisoformat(form.get("day", "")), actor=actor)
            flash(_("Saved"), "success")
        elif action == "remove-year":
            business_calendar.remove_year(ctx, year=int(form.get("year", "")), actor=actor)
            flash(_("Saved"), "success")
        else:
            abort(404)
    except PermissionDeniedError:
        abort(403)
    except (InvalidInputError, ConflictError, NotFoundError) as exc:
        flash(_calendar_problem(exc), "error")
    except (ValueError, UnicodeDecodeError):
        flash(_("Give a year, a date as YYYY-MM-DD and a UTF-8 text table"), "error")
    return redirect(url_for("admin.calendar_page"))


def _calendar_problem(exc: InvalidInputError | ConflictError | NotFoundError) -> str:
    """The engine's message with the lines or days it names (a table is refused whole, nothing is stored)."""
    lines = "; ".join(_("line %(number)s: %(problem)s", number=n, problem=p)
                      for n, p in exc.details.get("lines", {}).items())
    days = ", ".join(exc.details.get("days", []))
    return " — ".join(part for part in (exc.message, lines, days) if part)
