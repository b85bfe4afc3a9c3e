"""A stated subset of JUEL (Camunda 7) and FEEL (Camunda 8, DMN) translated to CareFlow (Python) expressions.

What translates (docs/interchange.md has the table): comparisons, boolean logic (``and``/``or``/``not``,
``&&``/``||``/``!``, JUEL's ``eq ne lt gt le ge``), arithmetic (``+ - * / %``), parentheses, variable paths
(``a.b.c`` → ``a["b"]["c"]``: CareFlow's task data are plain dictionaries), string, number and boolean literals
and ``null``. ``${...}`` and ``#{...}`` are JUEL, a leading ``=`` is FEEL (where ``=`` alone compares).
Everything else (function and method calls, ternaries, ``empty``, lists, contexts, ranges in expressions,
composite texts such as ``Total: ${a}``) raises :class:`UntranslatableError` with the offending text, never a guess.

For DMN, :func:`feel_unary_test` turns a FEEL unary test (``< 10``, ``[1..10]``, ``"a","b"``, ``not(...)``,
``-``) into the match expressions SpiffWorkflow's DMN engine evaluates (``?`` stands for the input value).
"""

from __future__ import annotations

import ast
import re

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|=|\+|-|\*|/|%|\(|\))
""", re.VERBOSE)
_WORDS = {"and": "and", "or": "or", "not": "not", "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=",
          "ge": ">=", "true": "True", "false": "False", "null": "None", "div": "/", "mod": "%"}
_OPS = {"&&": "and", "||": "or", "!": "not"}
_ALLOWED = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name, ast.Constant, ast.Subscript,
            ast.Load, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod,
            ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_RESERVED = {"True", "False", "None", "and", "or", "not", "in", "is", "if", "else", "lambda"}


class UntranslatableError(ValueError):
    """The text is outside the translated subset; ``text`` is the offending part."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(f"{message}: {text!r}")
        self.text = text


def dialect(text: str) -> str | None:
    """``juel``, ``feel`` or None (plain CareFlow Python) for an expression as another modeler wrote it."""
    stripped = text.strip()
    if (stripped.startswith("${") or stripped.startswith("#{")) and stripped.endswith("}"):
        return "juel"
    if stripped.startswith("=") and not stripped.startswith("=="):
        return "feel"
    return None


def translate(text: str) -> str:
    """A JUEL (``${...}``, ``#{...}``) or FEEL (``= ...``) expression → the CareFlow expression; else unchanged."""
    kind = dialect(text)
    stripped = text.strip()
    if kind is None:
        return text
    if kind == "feel":
        return _translate_body(stripped[1:], feel=True)
    if not re.fullmatch(r"[$#]\{[^{}]*\}", stripped):
        raise UntranslatableError("only a single ${...} expression translates, not text around or between them", stripped)
    return _translate_body(stripped[2:-1], feel=False)


def _translate_body(body: str, *, feel: bool) -> str:
    if not body.strip():
        raise UntranslatableError("empty expression", body)
    out: list[str] = []
    position = 0
    while position < len(body):
        match = _TOKEN.match(body, position)
        if match is None:
            raise UntranslatableError("not in the translated subset", body[position:position + 30])
        position = match.end()
        kind, value = match.lastgroup, match.group()
        if kind == "space":
            continue
        if kind == "name":
            following = body[position:].lstrip()
            if following.startswith("("):
                if value == "not" and feel:
                    out.append("not")
                    continue
                if value != "not":
                    raise UntranslatableError("function and method calls do not translate", f"{value}(")
            out.append(_path(value))
        elif kind == "op":
            if value == "=":
                if not feel:
                    raise UntranslatableError("assignment is not an expression", body)
                value = "=="
            elif feel and value in ("&&", "||", "!"):
                raise UntranslatableError("not FEEL", value)
            out.append(_OPS.get(value, value))
        elif kind == "string":
            out.append(repr(ast.literal_eval(value)))
        else:
            out.append(value)
    python = " ".join(out)
    _check(python, body)
    return python


def _path(name: str) -> str:
    head, *rest = name.split(".")
    if not rest and head in _WORDS:
        return _WORDS[head]
    if head in _RESERVED or head.startswith("_") or any(part.startswith("_") for part in rest):
        raise UntranslatableError("reserved or private name", name)
    if any(part in _WORDS for part in [head, *rest]) and rest:
        raise UntranslatableError("keyword inside a variable path", name)
    return head + "".join(f"[{part!r}]" for part in rest)


def _check(python: str, original: str) -> None:
    try:
        tree = ast.parse(python, mode="eval")
    except SyntaxError:
        raise UntranslatableError("not a well-formed expression", original.strip()) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise UntranslatableError("not in the translated subset", original.strip())
        if isinstance(node, ast.Subscript) and not (isinstance(node.slice, ast.Constant)
                                                   and isinstance(node.slice.value, str)):
            raise UntranslatableError("only name paths may be indexed", original.strip())


# --- DMN: FEEL unary tests and literals ---------------------------------------------------------------------------

_RANGE = re.compile(r"^([\[\]\(])\s*(.+?)\s*\.\.\s*(.+?)\s*([\[\]\)])$")


def feel_unary_test(text: str | None) -> str | None:
    """A DMN input entry in FEEL → SpiffWorkflow's match expression (``?`` is the input); None matches anything."""
    stripped = (text or "").strip()
    if stripped in ("", "-"):
        return None
    if stripped.startswith("not(") and stripped.endswith(")"):
        inner = feel_unary_test(stripped[4:-1])
        if inner is None:
            raise UntranslatableError("not(-) matches nothing", stripped)
        return f"not ({_with_input(inner)})"
    parts = _split_top(stripped)
    if len(parts) > 1:
        tests = [feel_unary_test(part) for part in parts]
        if all(t is not None and not t.startswith(("?", "not", "(")) and "?" not in t for t in tests):
            return f"? in ({', '.join(str(t) for t in tests)},)"
        return " or ".join(f"({_with_input(str(t))})" for t in tests if t is not None)
    ranged = _RANGE.match(stripped)
    if ranged:
        low, high = _feel_value(ranged.group(2)), _feel_value(ranged.group(3))
        left = "<=" if ranged.group(1) == "[" else "<"
        right = "<=" if ranged.group(4) == "]" else "<"
        return f"{low} {left} ? {right} {high}"
    for op in ("<=", ">=", "!=", "<", ">", "="):
        if stripped.startswith(op):
            python_op = "==" if op == "=" else op
            return f"? {python_op} {_feel_value(stripped[len(op):])}"
    return _feel_value(stripped)


def _with_input(test: str) -> str:
    return test if "?" in test else f"? == {test}"


def feel_literal(text: str | None) -> str | None:
    """A DMN output entry or input expression in FEEL → a CareFlow expression."""
    stripped = (text or "").strip()
    if not stripped:
        return text
    return _translate_body(stripped, feel=True)


def _feel_value(text: str) -> str:
    value = text.strip()
    if not value:
        raise UntranslatableError("empty value", text)
    return _translate_body(value, feel=True)


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes, parentheses and brackets."""
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth <= 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts
