"""CareFlow's web layer: Flask app factory with one blueprint per area."""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Flask

from engine.config import Settings
from engine.context import EngineContext, build_engine


def create_app(test_config: dict[str, Any] | None = None, *, engine: EngineContext | None = None) -> Flask:
    """Build the app. Production reads the environment; tests pass a ready EngineContext."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("CAREFLOW_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("CAREFLOW_SECURE_COOKIES", "") == "1",
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    if test_config:
        app.config.from_mapping(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["careflow"] = engine or build_engine(Settings.from_env())

    from web import (
        admin,
        assets,
        auth,
        complaints_desk,
        customers,
        designer,
        errors,
        governance,
        i18n,
        inbox,
        pages,
        portal,
        reports,
        supervisor,
        worklist,
    )
    from web.api import bp as api_bp
    from web.scores import bp as scores_bp

    i18n.init_app(app)
    assets.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    app.register_blueprint(api_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(inbox.bp)
    worklist.init_app(app)
    app.register_blueprint(supervisor.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(governance.bp)
    app.register_blueprint(designer.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(complaints_desk.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(scores_bp)
    app.register_blueprint(reports.bp)

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # img-src data:: Bootstrap draws its select arrows, check marks and menu icon as inline SVG.
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
        return response

    return app
