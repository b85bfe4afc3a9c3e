"""The only mapping from engine errors to HTTP status codes."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from engine import errors as e
from engine.rules.calendar import CalendarOutOfRangeError
from web import error_pages
from web.problem_text import localized

STATUS: list[tuple[type[e.EngineError], int]] = [
    (e.NotFoundError, 404),
    (e.InvalidDefinitionError, 422),
    (e.FormValidationError, 422),
    (e.InvalidInputError, 400),
    (e.AuthenticationError, 401),
    (e.PermissionDeniedError, 403),
    (e.RateLimitedError, 429),
    (e.ConflictError, 409),
    # The process could not run on what was sent (a condition or excludeUsers failed on the data; the step was not
    # stored), or a script the sandbox refuses: the caller's data or the designer's model, not the server (422).
    (e.ProcessScriptError, 422),
    (e.ScriptSecurityError, 422),
    (CalendarOutOfRangeError, 422),  # a date outside the years the business calendar knows
    (e.IntegrationError, 502),
    (e.ConfigurationError, 500),
]


log = logging.getLogger(__name__)


def status_for(error: e.EngineError) -> int:
    return next((code for cls, code in STATUS if isinstance(error, cls)), 500)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def init_app(app: Flask) -> None:
    @app.errorhandler(e.EngineError)
    def engine_error(error: e.EngineError) -> Any:
        details = error.details
        if isinstance(error, e.InvalidDefinitionError):  # each problem in the page's language (web/problem_text.py)
            details = {**details, "problems": [localized(p) for p in error.problems]}
        response = jsonify(error_body(error.code, error.message, details))
        if isinstance(error, e.RateLimitedError):
            response.headers["Retry-After"] = str(error.retry_after)
        status = status_for(error)
        if status >= 500:  # the server's side: configuration, an outside system, or stored data that fails its check
            log.error("%s %s answered %s: %s: %s", request.method, request.path, status, error.code, error.message)
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            code = (error.name or "error").lower().replace(" ", "_")
            return jsonify(error_body(code, error.description or error.name)), error.code
        return error

    error_pages.init_app(app)  # browsers get HTML pages for the same statuses (wraps the handlers above)
