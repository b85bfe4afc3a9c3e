"""Restricted execution of BPMN scripts and expressions.

Designers edit scripts, conditions, timer expressions and DMN cells in the browser, so
they run under RestrictedPython: compiled with its policy (no imports, no names or
attributes starting with ``_``), with guarded attribute/item access and a small builtins
whitelist. Anything else is an error, never a silent success. SpiffWorkflow reports
script line numbers by looking for ``<string>`` frames, so code is compiled under that name.

Every evaluation also runs under the resource limits of ``engine.bpmn.limits``: the compiler routes the
operators that can build a huge result in one C call (``*``, ``**``, ``<<``, ``%``, formatted values)
through checked functions, the amplifying builtins and string methods are replaced by checked versions,
and the code runs traced against the step's time, operation and memory budget.
"""

from __future__ import annotations

import ast
import builtins
import copy
import re
from collections.abc import Mapping
from functools import lru_cache
from types import CodeType
from typing import Any, Literal, cast

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from engine.bpmn import limits

_EXTRA_BUILTINS = (
    "len", "min", "max", "sum", "abs", "round", "sorted", "any", "all", "enumerate", "zip", "range", "dict",
    "list", "set", "tuple", "str", "int", "float", "bool", "isinstance", "reversed", "map", "filter",
)
_FORBIDDEN = {"getattr", "setattr", "delattr", "vars", "dir", "type", "open", "__import__", "eval", "exec",
              "compile", "globals", "locals", "breakpoint", "input", "help", "memoryview", "object",
              # exceptions that stop a thread or a worker rather than a script, and class statements
              "BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit", "__build_class__"}
# Builtins that could build a huge result in one C call, replaced by checked versions (engine.bpmn.limits).
_CHECKED_BUILTINS = {"range": limits.checked_range, "pow": limits.checked_pow, "sum": limits.checked_sum}
_GUARDED_OPERATORS = {ast.Add: "+", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}
_LINE = re.compile(r"Line (\d+)")


class ScriptCompileError(SyntaxError):
    """A script or expression that the sandbox refuses to compile (syntax or policy)."""


def _inplace(op: str, x: Any, y: Any) -> Any:
    if op in ("+=", "*=", "**=", "<<=", "%="):
        return limits.binop(op[:-1], x, y)
    ops = {"-=": lambda: x - y, "/=": lambda: x / y, "//=": lambda: x // y}
    if op not in ops:
        raise ScriptCompileError(f"operator {op} is not allowed")
    return ops[op]()


def _builtins() -> dict[str, Any]:
    allowed = {k: v for k, v in safe_builtins.items() if k not in _FORBIDDEN}
    allowed.update({name: getattr(builtins, name) for name in _EXTRA_BUILTINS})
    allowed.update(_CHECKED_BUILTINS)
    return allowed


def _getattr(obj: Any, name: str, default: Any = None) -> Any:
    return limits.guard_method(obj, name, safer_getattr(obj, name, default))


class LimitingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus the operators and formatted values of engine.bpmn.limits as checked calls."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # noqa: N802 - the ast visitor protocol
        node = self.node_contents_visit(node)
        symbol = _GUARDED_OPERATORS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(func=ast.Name("_binop_", ast.Load()), args=[ast.Constant(symbol), node.left, node.right],
                        keywords=[])
        return _located(call, node)

    # A trace function that raises is switched off by CPython, and the exception it raised can be caught: so
    # every handler and finally block of user code first re-raises a limit the step has already exceeded.
    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:  # noqa: N802 - the ast visitor protocol
        handler = cast(ast.ExceptHandler, super().visit_ExceptHandler(node))
        handler.body.insert(0, _limit_check(handler.body[0]))
        return handler

    def visit_Try(self, node: ast.Try) -> ast.AST:  # noqa: N802 - the ast visitor protocol
        node = self.node_contents_visit(node)
        if node.finalbody:
            node.finalbody.insert(0, _limit_check(node.finalbody[0]))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:  # noqa: N802 - the ast visitor protocol
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        call = ast.Call(func=ast.Name("_format_", ast.Load()),
                        args=[node.value, node.format_spec, ast.Constant(node.conversion)], keywords=[])
        return _located(ast.FormattedValue(value=call, conversion=-1, format_spec=None), node)


def _located(new: Any, near: ast.AST) -> Any:
    """A node made by the policy, placed at the line of the user's node it replaces (for error line numbers)."""
    return ast.fix_missing_locations(ast.copy_location(new, near))


def _limit_check(near: ast.AST) -> ast.stmt:
    call = ast.Call(func=ast.Name("_limit_check_", ast.Load()), args=[], keywords=[])
    return cast(ast.stmt, _located(ast.Expr(value=call), near))


RESTRICTED_GLOBALS: dict[str, Any] = {
    "__builtins__": _builtins(),
    "_limit_check_": limits.reraise_exceeded,
    "_binop_": limits.binop,
    "_format_": limits.format_value,
    "_getattr_": _getattr,
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
    compile_restricted = compile_restricted_exec if mode == "exec" else compile_restricted_eval
    result = compile_restricted(source, "<string>", policy=LimitingTransformer)
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
        scope = self._globals(context, external_context)
        with limits.current_budget().running():
            return eval(code, scope)  # noqa: S307 - restricted code object

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        code = compile_code(script, "exec")
        scope = self._globals(copy.copy(context), external_context)
        try:
            with limits.current_budget().running():
                exec(code, scope)  # noqa: S102 - restricted code object
        finally:
            for key, value in scope.items():
                if key in RESTRICTED_GLOBALS or key in self.globals or (external_context and key in external_context):
                    continue
                if callable(value):
                    continue
                context[key] = value
        return True
