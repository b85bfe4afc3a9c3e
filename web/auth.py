"""Authentication: bearer API tokens for /api, flask-login sessions for pages."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Request, abort, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user

from engine.errors import AuthenticationError, UserNotFoundError
from engine.services import identity
from engine.views import Actor
from web.engine_access import current_engine

login_manager = LoginManager()
login_manager.login_view = "pages.login"
# flask-login's own notice is English: say it in the page's language, styled as information, not as an error.
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"


class SessionUser(UserMixin):  # type: ignore[misc]
    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.id = actor.username


@login_manager.user_loader
def _load_user(username: str) -> SessionUser | None:
    try:
        return SessionUser(identity.get_actor(current_engine(), username))
    except UserNotFoundError:
        return None


class _SessionInterface(SecureCookieSessionInterface):
    """A call with a bearer token is authenticated by the token alone: no cookie session is read for it (and
    none is signed and sent back). Its ``session`` is Flask's null session, which refuses writes."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return None
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.session_interface = _SessionInterface()


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """API views: ``Authorization: Bearer <token>`` → ``g.actor``; or the signed-in browser session.

    A session caller must send the session's CSRF token in ``X-CSRF-Token`` on every request that
    changes something (the page's scripts read it from the ``csrf-token`` meta tag). 401 otherwise.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and current_user.is_authenticated:
            if request.method not in SAFE_METHODS:
                sent = request.headers.get("X-CSRF-Token", "")
                if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
                    raise AuthenticationError("a browser session must send its CSRF token in X-CSRF-Token")
            g.actor = current_actor()
            return view(*args, **kwargs)
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("send an API token: Authorization: Bearer <token>")
        g.actor = identity.authenticate_token(current_engine(), token.strip())
        return view(*args, **kwargs)

    return wrapper


def current_actor() -> Actor:
    actor: Actor = current_user.actor
    return actor


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "invalid or missing CSRF token")
