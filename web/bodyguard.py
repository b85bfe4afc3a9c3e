"""The shape of every request body, checked before any view, token or session is looked at.

Why before authentication: parsing is work an anonymous caller can make the server do. A JSON body 50,000 brackets
deep made ``json.loads`` raise RecursionError (a 500) on any route, logged in or not. Here, in this order:

1. larger than its cap, 413 with a message naming it: a file upload (multipart/form-data) may be
   ``settings.uploads.max_bytes`` plus ``form_overhead_bytes`` (one place for the upload caps: the views and the
   engine check each file against the same setting); any other body (JSON, URL-encoded forms) keeps the small
   ``settings.inputs.request_max_bytes`` (Flask's ``MAX_CONTENT_LENGTH``), so a large body is never parsed as JSON;
2. JSON nested deeper than ``CAREFLOW_JSON_MAX_DEPTH``: a byte scan that does not recurse (engine.inputs), 400;
3. JSON that is not strict UTF-8, or whose strings hold a lone surrogate or NUL: 400;
4. form fields (URL-encoded or multipart) that are not UTF-8: 400 (werkzeug would replace the bytes silently).

The engine checks the same things again at its service boundary (engine.inputs), for the CLI and the scheduler;
this layer answers early and for every route, including pages that take forms.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

from engine.errors import InvalidInputError
from engine.inputs import InputLimits, check_value, json_depth_exceeds
from web.engine_access import current_engine

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
REPLACEMENT = "\ufffd"  # what werkzeug puts where multipart bytes were not UTF-8


# \uD800-\uDFFF or \u0000 written as a JSON escape (the only way a surrogate or a NUL gets into valid UTF-8 JSON).
_MAY_HOLD_UNSTORABLE = re.compile(rb"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")


def init_app(app: Flask) -> None:
    """Register the guard as the app's first ``before_request`` (call before anything that reads the body)."""
    app.before_request(check_body)


def check_body() -> None:
    """Refuse a body whose shape or encoding the app could not handle (InvalidInputError → 400; too large → 413)."""
    _check_size()
    if not request.content_length and request.headers.get("Transfer-Encoding", "") != "chunked":
        return
    limits = InputLimits(max_depth=current_engine().settings.inputs.json_max_depth,
                         max_bytes=current_engine().settings.inputs.request_max_bytes)
    if request.is_json:
        _check_json(request.get_data(cache=True), limits)
    elif request.mimetype == URLENCODED:
        _check_urlencoded(request.get_data(cache=True))
    elif request.mimetype == MULTIPART:
        _check_multipart()


def _check_size() -> None:
    """The cap for this request's kind, set before anything reads the body (werkzeug enforces it while reading, also
    for a chunked body), and an early 413 that names it when the declared length is already over."""
    settings = current_engine().settings
    multipart = request.mimetype == MULTIPART
    if multipart:
        request.max_content_length = settings.uploads.max_request_bytes
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"files may total at most {settings.uploads.max_mb} MB" if multipart else
                                    f"the request body may be at most {limit} bytes; send files as "
                                    f"multipart/form-data (up to {settings.uploads.max_mb} MB)")


def _check_json(raw: bytes, limits: InputLimits) -> None:
    if json_depth_exceeds(raw, limits.max_depth):
        raise InvalidInputError(f"the JSON body is nested deeper than {limits.max_depth} levels",
                                details={"max_depth": limits.max_depth})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the body is not valid UTF-8 (byte {exc.start})") from exc
    if _MAY_HOLD_UNSTORABLE.search(raw) is None:
        return  # strict UTF-8 holds no surrogates; only an escape can spell one (or a NUL)
    try:
        value = json.loads(text)
    except ValueError:
        return  # malformed JSON: the view says what it expected
    check_value(value, "the body", limits)


def _check_urlencoded(raw: bytes) -> None:
    try:
        parse_qsl(raw.decode("ascii"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeError as exc:
        raise InvalidInputError("a form field is not valid UTF-8") from exc


def _check_multipart() -> None:
    # werkzeug decodes multipart fields and file names with errors="replace"; the raw parts are gone by then, so a
    # replacement character stands for bytes that were not UTF-8 (nobody types U+FFFD into a form).
    texts = [text for pair in request.form.items(multi=True) for text in pair]
    texts += [f.filename for f in request.files.values()]
    for text in (t for t in texts if isinstance(t, str)):  # a part without a usable name has key None
        if REPLACEMENT in text:
            raise InvalidInputError("a form field or file name is not valid UTF-8")
        if "\x00" in text:
            raise InvalidInputError("a form field or file name contains a NUL character")
