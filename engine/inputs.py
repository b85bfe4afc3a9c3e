"""What the engine accepts as text and JSON values from outside, whoever passes them on (web, CLI, scheduler).

Why here and not only in the web layer: a value is stored as JSON text in UTF-8 (instance state, comments, audit
rows) and later walked by recursive code (the serializer, ``json.dumps``, Jinja, SpiffWorkflow's deep copies).
Three kinds of value pass Python's type checks and then fail only while the step is being stored or read again,
which used to turn into a 500 or an instance stuck in ``error``:

- a lone UTF-16 surrogate (``"\\ud800"``: JSON can spell it, UTF-8 cannot encode it);
- a NUL character (PostgreSQL text and jsonb cannot hold it);
- nesting deeper than recursive code can walk (900 levels is enough for some of it).

The checks are iterative (no recursion, so they cannot fail the way the code they protect does) and pure: they
take the limits as arguments and raise :class:`InvalidInputError` with a message naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidInputError

# Lone surrogates (a Python str may hold them after json.loads) and NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON string (skipped whole, escapes included) or a bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


@dataclass(frozen=True)
class InputLimits:
    """How deep and how large a JSON value (variables, form data, a message payload) may be."""

    max_depth: int = 64
    max_bytes: int = 1024 * 1024


def check_text(text: str, field: str) -> str:
    """``text`` unchanged when it can be stored as UTF-8 text; InvalidInputError when it holds a lone surrogate or NUL."""
    match = _UNSTORABLE.search(text)
    if match is not None:
        raise InvalidInputError(_unstorable_message(field, match.group()), details={"field": field})
    return text


def check_value(value: Any, field: str, limits: InputLimits) -> Any:
    """``value`` unchanged when it is a JSON value within ``limits`` whose strings and keys are storable text.

    Raises InvalidInputError naming ``field``: nested deeper than ``limits.max_depth``, larger than
    ``limits.max_bytes`` (counted as the UTF-8 length of its strings plus a little per item, without serializing),
    not a JSON type, or text with a lone surrogate or NUL.
    """
    size = 0
    for depth, item in _walk(value):
        if depth > limits.max_depth:
            raise InvalidInputError(f"{field} is nested deeper than {limits.max_depth} levels",
                                    details={"field": field, "max_depth": limits.max_depth})
        if isinstance(item, str):
            check_text(item, field)
            size += len(item) + 2
        elif item is None or isinstance(item, (bool, int, float)):
            size += 8
        elif isinstance(item, (dict, list, tuple)):
            size += 2
        else:
            raise InvalidInputError(f"{field} must hold only JSON values, not {type(item).__name__}",
                                    details={"field": field})
        if size > limits.max_bytes:
            raise InvalidInputError(f"{field} is larger than {limits.max_bytes} bytes",
                                    details={"field": field, "max_bytes": limits.max_bytes})
    return value


def _walk(value: Any) -> Iterator[tuple[int, Any]]:
    """Every item under ``value`` with its depth (the value itself is depth 0; dict keys count as strings)."""
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        depth, item = stack.pop()
        yield depth, item
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise InvalidInputError("object keys must be text", details={"key": repr(key)[:40]})
                stack.append((depth + 1, key))
                stack.append((depth + 1, child))
        elif isinstance(item, (list, tuple)):
            stack.extend((depth + 1, child) for child in item)


def json_depth_exceeds(raw: bytes, max_depth: int) -> bool:
    """True when the JSON text ``raw`` opens more than ``max_depth`` arrays/objects at once.

    A byte scan that skips strings (and their escapes), so a body is refused before a recursive parser sees it:
    ``json.loads`` of 50,000 nested brackets raises RecursionError. Malformed JSON is left to the parser.
    """
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the common case, at C speed
    depth = 0
    for token in _JSON_TOKENS.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


def loads(text: str, field: str, max_depth: int) -> Any:
    """``json.loads`` for text from outside: InvalidInputError when nested deeper than ``max_depth`` (checked first,
    without recursion) or holding unstorable text; ValueError when it is not JSON at all."""
    if json_depth_exceeds(text.encode("utf-8", "surrogatepass"), max_depth):
        raise InvalidInputError(f"{field} is nested deeper than {max_depth} levels",
                                details={"field": field, "max_depth": max_depth})
    return check_value(json.loads(text), field, InputLimits(max_depth=max_depth, max_bytes=len(text) * 8 + 64))


def _unstorable_message(field: str, char: str) -> str:
    if char == "\x00":
        return f"{field} contains a NUL character"
    return f"{field} contains a lone UTF-16 surrogate (\\u{ord(char):04x}), which is not valid Unicode text"
