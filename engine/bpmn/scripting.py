"""Restricted execution of BPMN scripts and expressions.

Designers edit scripts, conditions, timer expressions and DMN cells in the browser, so
they run under RestrictedPython: compiled with its policy (no imports, no names or
attributes starting with ``_``), with guarded attribute/item access and a small builtins
whitelist. Anything else is an error, never a silent success. SpiffWorkflow reports
script line numbers by looking for ``<string>`` frames, so code is compiled under that name.
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
from collections.abc import Mapping
from functools import lru_cache
from types import CodeType
from typing import Any, Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

_EXTRA_BUILTINS = (
    "len", "min", "max", "sum", "abs", "round", "sorted", "any", "all", "enumerate", "zip", "range", "dict",
    "list", "set", "tuple", "str", "int", "float", "bool", "isinstance", "reversed", "map", "filter",
)
_FORBIDDEN = {"getattr", "setattr", "delattr", "vars", "dir", "type", "open", "__import__", "eval", "exec",
              "compile", "globals", "locals", "breakpoint", "input", "help", "memoryview", "object"}
_LINE = re.compile(r"Line (\d+)")


class ScriptCompileError(SyntaxError):
    """A script or expression that the sandbox refuses to compile (syntax or policy)."""


def _inplace(op: str, x: Any, y: Any) -> Any:
    ops = {"+=": lambda: x + y, "-=": lambda: x - y, "*=": lambda: x * y, "/=": lambda: x / y,
           "//=": lambda: x // y, "%=": lambda: x % y, "**=": lambda: x**y}
    if op not in ops:
        raise ScriptCompileError(f"operator {op} is not allowed")
    return ops[op]()


def _builtins() -> dict[str, Any]:
    allowed = {k: v for k, v in safe_builtins.items() if k not in _FORBIDDEN}
    allowed.update({name: getattr(builtins, name) for name in _EXTRA_BUILTINS})
    return allowed


RESTRICTED_GLOBALS: dict[str, Any] = {
    "__builtins__": _builtins(),
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplace,
}


def compile_code(source: str, mode: Literal["exec", "eval"]) -> CodeType:
    """Compile under the sandbox policy (cached); raises ScriptCompileError with a line number."""
    return _compile(str(source), mode)  # conditions arrive as str subclasses; normalize the cache key


def _refuse_imports(source: str, mode: str) -> None:
    # RestrictedPython compiles imports and only guards them at run time; refuse them up front.
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return  # reported with its line by the restricted compiler
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            error = ScriptCompileError(f"Line {node.lineno}: imports are not allowed in process scripts")
            error.lineno = node.lineno
            raise error


@lru_cache(maxsize=2048)
def _compile(source: str, mode: Literal["exec", "eval"]) -> CodeType:
    _refuse_imports(source, mode)
    result = (compile_restricted_exec if mode == "exec" else compile_restricted_eval)(source, "<string>")
    if result.errors or result.code is None:
        message = "; ".join(result.errors) or "cannot compile"
        match = _LINE.search(message)
        error = ScriptCompileError(message)
        error.lineno = int(match.group(1)) if match else 1
        raise error
    return result.code


def check_script(source: str, mode: Literal["exec", "eval"]) -> list[tuple[int | None, str]]:
    """Problems (line, message) with ``source`` under the sandbox; [] when it compiles. Runs nothing."""
    try:
        compile_code(source, mode)
    except ScriptCompileError as exc:
        return [(exc.lineno, str(exc.msg))]
    return []


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow script environment running restricted code with whitelisted helpers."""

    def __init__(self, helpers: Mapping[str, Any] | None = None) -> None:
        super().__init__(dict(helpers or {}))

    def _globals(self, context: Mapping[str, Any], external: Mapping[str, Any] | None) -> dict[str, Any]:
        scope = dict(RESTRICTED_GLOBALS)
        scope.update(self.globals)
        scope.update(external or {})
        scope.update(context)
        return scope

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        code = compile_code(expression, "eval")
        return eval(code, self._globals(context, external_context))  # noqa: S307 - restricted code object

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = compile_code(script, "exec")
        scope = self._globals(copy.copy(context), external_context)
        try:
            exec(code, scope)  # noqa: S102 - restricted code object
        finally:
            for key, value in scope.items():
                if key in RESTRICTED_GLOBALS or key in self.globals or (external_context and key in external_context):
                    continue
                if callable(value):
                    continue
                context[key] = value
        return True
