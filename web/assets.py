"""The browser bundles: hashed file names, long cache lifetimes, compression, the favicon.

``frontend/build.mjs`` gives every bundle a content hash in its name and writes ``manifest.json`` beside them;
templates ask for the plain name (``asset("theme.css")``) and get the hashed file's URL. A hashed file never changes,
so browsers may keep it for a year (``immutable``); everything else under /static is revalidated. Static files are
compressed by Flask-Compress (brotli or gzip, by what the browser accepts). Pages and API answers are not: they carry
CSRF tokens and customer data next to text an attacker can reflect, which compression would leak (BREACH).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, request, url_for
from flask_compress import Compress

BUILD = Path(__file__).resolve().parent / "static" / "build"
STATIC = Path(__file__).resolve().parent / "static"
YEAR = 365 * 24 * 3600


class MissingBundleError(RuntimeError):
    """A template asked for a bundle the build did not produce (run ``make frontend``)."""


@lru_cache(maxsize=1)
def _manifest(path: Path = BUILD / "manifest.json") -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise MissingBundleError(f"{path} is missing: the browser bundles are not built (run `make frontend`)") from exc


def asset(name: str) -> str:
    """The URL of bundle ``name`` (``"modeler.js"``) under its hashed file name."""
    try:
        hashed = _manifest()[name]
    except KeyError as exc:
        raise MissingBundleError(f"no bundle {name!r} in {BUILD / 'manifest.json'} (run `make frontend`)") from exc
    return url_for("static", filename=f"build/{hashed}")


def _static_headers(compress: Compress, response: Response) -> Response:
    if not request.path.startswith("/static/"):
        return response
    if request.path.startswith("/static/build/") and response.status_code == 200:
        response.cache_control.public = True
        response.cache_control.max_age = YEAR
        response.cache_control.immutable = True
    if response.is_streamed and response.status_code == 200:
        # A file from send_file: read it (its close still runs when the response is closed), so that it is
        # compressed whole, with a length, instead of as a stream that would drop the file's close.
        response.direct_passthrough = False
        response.make_sequence()
    return compress.after_request(response)


@lru_cache(maxsize=1)
def _favicon_bytes() -> bytes:
    return (STATIC / "favicon.svg").read_bytes()


def _favicon() -> Any:
    response = Response(_favicon_bytes(), mimetype="image/svg+xml")
    response.cache_control.public = True
    response.cache_control.max_age = 24 * 3600
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("COMPRESS_MIMETYPES", [
        "text/html", "text/css", "text/plain", "application/javascript", "text/javascript", "application/json",
        "image/svg+xml",
    ])
    app.config.setdefault("COMPRESS_MIN_SIZE", 1024)
    app.config["COMPRESS_REGISTER"] = False  # only static files: see the module's docstring
    compress = Compress(app)
    app.jinja_env.globals["asset"] = asset
    app.after_request(lambda response: _static_headers(compress, response))
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
