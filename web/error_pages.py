"""Errors a person can act on: HTML pages inside the app's frame for browsers, and form mistakes as messages.

``web/errors.py`` maps engine errors to statuses and answers API clients with JSON. A person in a browser gets,
for the same statuses (400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502), a page in their language with
the app's header and what to do next. Which one is chosen by the request: ``/api/…`` and requests that prefer
JSON keep the JSON answer; everything else that accepts HTML gets the page. The handlers of ``web/errors.py``
are wrapped, not replaced, so the status stays the one place that decides it.

:func:`person_message` is the sentence a form shows after a mistake (a flash message on the same page): the
engine's own message on English pages, a translated sentence per kind of error on Chinese ones (the engine's
messages are English), so a page stays in one language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import HTTPException, InternalServerError

from engine import errors as e
from web.engine_access import current_engine
from web.i18n import current_language

TITLES = {
    400: _l("The request could not be understood"), 401: _l("Please sign in"), 403: _l("Not allowed"),
    404: _l("Not found"), 405: _l("Not possible here"), 409: _l("Somebody acted first"),
    413: _l("The upload is too large"), 422: _l("Please check what you entered"), 429: _l("Too many tries"),
    500: _l("Something went wrong on our side"), 502: _l("A connected system did not answer"),
}
NEXT_STEPS = {
    400: _l("Go back, check the address or the form, and try again."),
    401: _l("Sign in, then open the page again."),
    403: _l("Your roles do not allow this. Ask your supervisor or an administrator if you need it."),
    404: _l("The page or record does not exist, or is no longer there. Check the address, or start from the inbox."),
    405: _l("Use the buttons on the page rather than typing the address."),
    409: _l("Someone else changed this in the meantime. Open the page again to see it as it is now."),
    413: _l("Files may be at most %(mb)s MB. Choose a smaller file."),  # mb: settings.uploads
    422: _l("Go back and correct the marked fields."),
    429: _l("Wait a minute, then try again."),
    500: _l("Nothing you did caused this. Try again in a moment; if it happens again, tell the support desk the time."),
    502: _l("Try again in a moment; the work is kept."),
}
# What a Chinese page says for an engine error (the engine's messages are English): by kind, most specific first.
MESSAGES: list[tuple[type[e.EngineError], Any]] = [
    (e.UserNotFoundError, _l("No such user: check the user name.")),
    (e.TaskNotFoundError, _l("This task no longer exists.")),
    (e.NotFoundError, _l("Not found: it may have been removed.")),
    (e.InvalidTransitionError, _l("This is not possible in the task's current state: someone may have acted first.")),
    (e.ConflictError, _l("Someone else changed this first. The page shows it as it is now.")),
    (e.PermissionDeniedError, _l("You may not do this.")),
]


def person_message(error: e.EngineError) -> str:
    """The sentence a page shows a person for ``error``, in the page's language. Bad input keeps the engine's
    own message (it names the field and the rule, e.g. the allowed file types) until the engine speaks Chinese."""
    if current_language() == "en":
        return error.message
    found = next((text for cls, text in MESSAGES if isinstance(error, cls)), None)
    return str(found) if found is not None else error.message


def wants_html() -> bool:
    """A browser page, not an API call: not under /api/ and HTML at least as welcome as JSON."""
    if request.path.startswith("/api/") or request.headers.get("Authorization", "").startswith("Bearer "):
        return False  # an API client, also where it calls a page with its token
    accept = request.accept_mimetypes
    if not accept:  # no Accept header: a plain browser-like request
        return True
    return accept.quality("text/html") >= accept.quality("application/json") and accept.quality("text/html") > 0


def error_page(status: int, detail: str | None = None, *, translated: bool = False) -> tuple[str, int]:
    """The error page for ``status`` inside the app's frame (header and navigation when signed in). ``detail`` is
    shown on English pages, and on every page when the caller says it is already in the page's language."""
    actor = None
    if current_user and current_user.is_authenticated:
        actor = current_user.actor
    title = TITLES.get(status, TITLES[500 if status >= 500 else 400])
    next_step = NEXT_STEPS.get(status, NEXT_STEPS[500 if status >= 500 else 400])
    if status == 413:
        next_step = str(next_step) % {"mb": current_engine().settings.uploads.max_mb}
    shown = detail if detail and (translated or current_language() == "en") and status < 500 else None
    return render_template("error.html", status=status, title=title, next_step=next_step, detail=shown,
                           actor=actor), status


def init_app(app: Flask) -> None:
    """Wrap the JSON handlers of web/errors.py (call after it registered them) with HTML pages for browsers."""
    handlers = app.error_handler_spec.setdefault(None, {}).setdefault(None, {})
    engine_json: Callable[[Any], Any] | None = handlers.get(e.EngineError)
    http_default: Callable[[Any], Any] | None = handlers.get(HTTPException)

    @app.errorhandler(e.EngineError)
    def engine_error(error: e.EngineError) -> Any:
        if wants_html():
            from web.errors import status_for

            return error_page(status_for(error), error.message)
        return engine_json(error) if engine_json else (error.message, 500)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if wants_html() and error.code and error.code >= 400:
            return error_page(error.code, error.description)
        return http_default(error) if http_default else error

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError) -> Any:
        if wants_html():
            return error_page(500)
        return http_default(error) if http_default else error
