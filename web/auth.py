"""Authentication: bearer API tokens for /api, flask-login sessions for pages."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Request, abort, g, has_request_context, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from engine.errors import AuthenticationError, UserNotFoundError
from engine.services import identity, sessions
from engine.views import Actor
from web.engine_access import current_engine


class _LoginManager(LoginManager):  # type: ignore[misc]
    def unauthorized(self) -> Any:
        """A page asked for a signed-in user. With a bearer token there is no session to flash a message into (the
        null session refuses writes: that was a 500), so say what pages need; browsers are sent to log in as before."""
        if request.headers.get("Authorization", "").startswith("Bearer "):
            raise AuthenticationError("pages need a signed-in browser session; API tokens work on /api/v1")
        return super().unauthorized()


login_manager = _LoginManager()
login_manager.login_view = "pages.login"
# flask-login's own notice is English: say it in the page's language, styled as information, not as an error.
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"


class SessionUser(UserMixin):  # type: ignore[misc]
    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.id = actor.username


SESSION_ID = "sid"  # the cookie's key for the server-side session id (engine.services.sessions)


@login_manager.user_loader
def _load_user(username: str) -> SessionUser | None:
    """The signed cookie names a user, but only a live server-side session makes it count: a cookie kept after
    logout, a timeout, a lock or a deactivation opens nothing."""
    ctx = current_engine()
    if sessions.resolve(ctx, session.get(SESSION_ID), sessions.STAFF) != username:
        return None
    try:
        return SessionUser(identity.get_actor(ctx, username))
    except UserNotFoundError:
        return None


def sign_in(actor: Actor) -> None:
    """Open a server-side session for ``actor`` and put its id (and flask-login's user) into the cookie; a session
    this browser had before ends (a new sign-in never keeps an old id alive)."""
    ctx = current_engine()
    sessions.end(ctx, session.pop(SESSION_ID, None), sessions.STAFF)
    session[SESSION_ID] = sessions.start(ctx, sessions.STAFF, actor.username)
    login_user(SessionUser(actor))


def sign_out() -> None:
    """End the server-side session (every copy of the cookie with it) and empty the cookie."""
    sessions.end(current_engine(), session.pop(SESSION_ID, None), sessions.STAFF)
    logout_user()
    session.clear()


def over_tls() -> bool:
    """The request came over https: directly, or through a proxy whose X-Forwarded-Proto the settings trust."""
    if request.is_secure:
        return True
    if not current_engine().settings.sessions.trust_forwarded_proto:
        return False
    return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"


def client_address() -> str | None:
    """The caller's address for throttling. Behind a trusted proxy (the same setting that trusts its
    X-Forwarded-Proto) the last X-Forwarded-For entry, the one that proxy added; otherwise the socket's peer, so a
    caller cannot pick an address of their choice by sending the header."""
    if current_engine().settings.sessions.trust_forwarded_proto:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.remote_addr


class _SessionInterface(SecureCookieSessionInterface):
    """A call with a bearer token is authenticated by the token alone: no cookie session is read for it (and
    none is signed and sent back). Its ``session`` is Flask's null session, which refuses writes.

    The cookie is ``Secure`` whenever the request came over TLS (and always with SESSION_COOKIE_SECURE)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return None
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (has_request_context() and over_tls())


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
