"""CareFlow's web layer: Flask app factory with one blueprint per area."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from engine.config import Settings, secret_from_file
from engine.context import EngineContext, build_engine

HSTS = "max-age=31536000; includeSubDomains"
SECURITY_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    # img-src data:: Bootstrap draws its select arrows, check marks and menu icon as inline SVG.
    ("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"),
))


def create_app(test_config: dict[str, Any] | None = None, *, engine: EngineContext | None = None) -> Flask:
    """Build the app. Production reads the environment; tests pass a ready EngineContext."""
    app = Flask(__name__, instance_relative_config=True)
    ctx = engine or build_engine(Settings.from_env())
    secret = (test_config or {}).get("SECRET_KEY") or ctx.settings.sessions.secret_key \
        or secret_from_file(ctx.settings.secret_key_path)
    app.config.from_mapping(
        # One key for every worker, node and restart: a restart signs nobody out (sessions are rows; the key only
        # signs the cookie that carries a session's id).
        SECRET_KEY=secret,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure whenever the request came over TLS (web.auth); this forces it on every answer.
        SESSION_COOKIE_SECURE=ctx.settings.sessions.secure_cookies,
        MAX_CONTENT_LENGTH=ctx.settings.inputs.request_max_bytes,
        JSON_AS_ASCII=False,
    )
    if test_config:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["careflow"] = ctx

    # The feature packages' REST routes (web.complaints.api, .acts_api, web.customers.pages, web.reporting.pages) and the
    # OpenAPI document (web.openapi) are added to the API blueprint by their own modules (web.api knows none of them):
    # importing them here, before the blueprint is registered, adds them.
    from web import (
        admin,
        assets,
        auth,
        bodyguard,
        designer,
        devmail,
        errors,
        governance,
        i18n,
        inbox,
        labels,
        metrics,
        pages,
        request_id,
        search,
        second_factor,
        supervisor,
        worklist,
    )
    from web import openapi as _openapi  # noqa: F401  (GET /openapi.json)
    from web.api import bp as api_bp
    from web.complaints import acts_api as _complaint_acts_api  # noqa: F401  (POST /complaints/{case_no}/acts)
    from web.complaints import api as _complaint_api  # noqa: F401  (POST /complaints, GET /complaints/{case_no})
    from web.complaints import desk as complaints_desk
    from web.complaints import portal
    from web.complaints import portal_requests as _portal_requests  # noqa: F401  (/portal/requests on portal.bp)
    from web.customers import pages as customers
    from web.customers import requests as data_requests
    from web.prediction.pages import bp as scores_bp
    from web.reporting import pages as reports

    request_id.init_app(app)  # first: every log line of the request carries its id
    bodyguard.init_app(app)  # the body's shape before anything reads it or asks who sent it
    i18n.init_app(app)
    assets.init_app(app)
    labels.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    metrics.init_app(app, ctx)
    app.register_blueprint(api_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(second_factor.bp)
    app.register_blueprint(inbox.bp)
    worklist.init_app(app)
    app.register_blueprint(supervisor.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(governance.bp)
    app.register_blueprint(designer.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(data_requests.bp)
    app.register_blueprint(complaints_desk.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(scores_bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(devmail.bp)
    app.register_blueprint(search.bp)

    @app.after_request
    def security_headers(response: Any) -> Any:
        # Each header unless the view set its own (the designer's CSP): one pass over the answer's few headers
        # rather than a search per header (werkzeug's setdefault), on every request.
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        for lowered, name, value in SECURITY_HEADERS:
            if lowered not in present:
                headers.add(name, value)
        if "strict-transport-security" not in present and auth.over_tls():
            headers.add("Strict-Transport-Security", HSTS)
        if not request.path.startswith("/static/"):
            # Pages and API answers may carry customer data: no browser or proxy keeps a copy.
            headers["Cache-Control"] = "no-store"
        return response

    return app
