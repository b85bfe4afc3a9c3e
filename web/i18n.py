"""The UI language: Simplified Chinese by default, English on request (Flask-Babel, gettext catalogues).

Message ids are English; ``web/translations/zh/LC_MESSAGES/messages.po`` holds the Chinese. The
catalogue is compiled to ``.mo`` when the app starts (into a directory named by the catalogue's
hash, so workers share it and an edited ``.po`` is picked up on restart), which keeps a fresh clone
runnable without a separate compile step. ``tests/web/test_i18n.py`` fails on any message used in a
template or view that has no Chinese translation.

The language comes from ``?lang=`` (remembered in a cookie), then the ``careflow_lang`` cookie, then
``CAREFLOW_DEFAULT_LANGUAGE`` (``zh``). Stored codes (statuses, audit actions, channels…) are shown through
``web/labels.py``; process and task names come from the diagram in the page's language (``name`` in Chinese,
``careflow:nameEn`` in English: docs/bpmn-conventions.md); customer names and form answers are data, as written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, redirect, request
from flask_babel import Babel, get_locale

LANGUAGES = {"zh": "中文", "en": "English"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}
COOKIE = "careflow_lang"
CATALOGUES = Path(__file__).parent / "translations"

bp = Blueprint("i18n", __name__)


def default_language() -> str:
    value = os.environ.get("CAREFLOW_DEFAULT_LANGUAGE", "zh")
    return value if value in LANGUAGES else "zh"


def select_locale() -> str:
    for candidate in (request.args.get("lang"), request.cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    return default_language()


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else default_language()


def compiled_catalogues(source: Path = CATALOGUES) -> Path:
    """Compile every ``<lang>/LC_MESSAGES/messages.po`` under ``source``; return the directory of ``.mo`` files."""
    sources = sorted(source.glob("*/LC_MESSAGES/messages.po"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"careflow-translations-{digest}"
    for po in sources:
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists():
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parts[-3])
        partial = mo.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            write_mo(handle, catalog)
        partial.replace(mo)  # atomic: another worker compiling the same file is harmless
    return target


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, not protocol-relative) — never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@bp.get("/lang/<code>")
def switch(code: str) -> Any:
    """Remember the chosen language in a cookie and go back where the user was."""
    response = redirect(_safe_next(request.args.get("next")))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=request.is_secure)
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", default_language())
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled_catalogues())
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def language() -> dict[str, Any]:
        lang = current_language()
        return {"lang": lang, "html_lang": HTML_LANG[lang], "languages": LANGUAGES}

    @app.after_request
    def remember_choice(response: Any) -> Any:
        # Only a request whose query names a language is looked at (the query is not parsed for every API call).
        chosen = request.args.get("lang") if b"lang=" in request.query_string else None
        if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
            response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                                secure=request.is_secure)
        return response
