"""The second sign-in step (a code from an authenticator app) and the enrolment page for supervisors and admins.

After a right password, a user with a second factor holds only a *pending* sign-in in the cookie (their name and
when the password was checked), which opens no page; the server-side session starts once the code is accepted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required

from engine.errors import AuthenticationError, InvalidInputError, PermissionDeniedError, RateLimitedError
from engine.services import identity, second_factor
from engine.views import Actor
from web.auth import check_csrf, current_actor, sign_in
from web.engine_access import current_engine

bp = Blueprint("second_factor", __name__)
PENDING, ENROLMENT = "pending_2fa", "totp_enrolment"
PENDING_FOR = timedelta(minutes=5)


def begin(actor: Actor, target: str) -> Any:
    """Called by the login page after a right password: sign in now, or ask for the code first."""
    ctx = current_engine()
    if not second_factor.required(ctx, actor.username):
        sign_in(actor)
        return redirect(target)
    session[PENDING] = {"user": actor.username, "at": ctx.clock.now().isoformat(), "next": target}
    return redirect(url_for("second_factor.code"))


def _pending() -> dict[str, str] | None:
    data = session.get(PENDING)
    if not isinstance(data, dict):
        return None
    try:
        since = datetime.fromisoformat(str(data["at"]))
    except (KeyError, ValueError):
        return None
    if current_engine().clock.now() - since > PENDING_FOR:
        session.pop(PENDING, None)
        return None
    return data


@bp.route("/login/code", methods=["GET", "POST"])
def code() -> Any:
    pending = _pending()
    if pending is None:
        return redirect(url_for("pages.login"))
    if request.method == "GET":
        return render_template("login_code.html")
    check_csrf()
    ctx, username = current_engine(), pending["user"]
    try:
        second_factor.verify(ctx, username, request.form.get("code", ""))
        actor = identity.get_actor(ctx, username)
    except AuthenticationError:
        flash(_("Wrong or already used code"))
        return render_template("login_code.html"), 401
    except RateLimitedError as exc:
        flash(_("Too many wrong codes: try again in %(seconds)s seconds", seconds=exc.retry_after))
        response = make_response(render_template("login_code.html"), 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    session.pop(PENDING, None)
    sign_in(actor)
    target = str(pending.get("next") or "")
    if not target.startswith("/") or urlparse(target).netloc:
        target = url_for("inbox.index")
    return redirect(target)


@bp.route("/account/second-factor", methods=["GET", "POST"])
@login_required
def enrol() -> Any:
    actor = current_actor()
    if not second_factor.eligible(actor):
        abort(403)
    ctx = current_engine()
    if request.method == "POST":
        check_csrf()
        secret = session.get(ENROLMENT)
        try:
            if not isinstance(secret, str):
                raise InvalidInputError("start again")
            second_factor.enrol(ctx, actor, secret, request.form.get("code", ""))
        except (InvalidInputError, PermissionDeniedError):
            flash(_("The code does not match: check the app's time and try the next code"), "error")
            return redirect(url_for("second_factor.enrol"))
        session.pop(ENROLMENT, None)
        flash(_("Second factor on: you will be asked for a code at every sign-in"), "success")
        return redirect(url_for("pages.home"))
    enrolment = second_factor.new_enrolment(actor)
    session[ENROLMENT] = enrolment.secret
    return render_template("second_factor.html", actor=actor, enrolment=enrolment,
                           active=second_factor.required(ctx, actor.username))
