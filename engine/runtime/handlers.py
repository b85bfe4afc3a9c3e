"""Which process may call which service handler: privileged handlers are bound to the processes they serve.

A handler that writes the bank's records (a complaint case, a customer, a sale) is registered with the process keys
allowed to call it (``EngineContext.register_handler(name, fn, processes=(...))``); a generic handler (a lookup)
with none, and any process may call it. A process key outside the list may still call a handler when an
administrator granted it that capability with a second administrator's approval (``process:<key>`` ``use`` on
``handler:<name>``, engine.services.grants). ``careflow.notify`` is generic, but a message template may name the
processes allowed to send it (the statutory complaint notices: only ``complaint_handling``).

The same rule is checked twice: at deploy, where a refusal names the element and line (every import path deploys
through ``engine.services.definitions``), and at every call (a version deployed before a binding changed, a draft
run elsewhere): a refused call fails its task, and the instance goes to ``error`` with the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.context import EngineContext

NOTIFY = "careflow.notify"


class HandlerPolicy:
    """The deploy-time and run-time check, over the context's registrations, grants and templates."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    def names(self) -> Collection[str]:
        return self._ctx.handlers.keys()

    def why_not(self, handler: str, process_key: str, params: Mapping[str, Any]) -> str | None:
        """Why ``process_key`` may not call ``handler`` with these parameters, or None when it may."""
        scope = self._ctx.handler_scopes.get(handler)
        if scope is not None and process_key not in scope and not self._ctx.grants.process_may_use(process_key, handler):
            allowed = ", ".join(scope) or "no process"
            return (f"service handler {handler!r} serves {allowed}, not {process_key!r} (an administrator may grant "
                    f"process:{process_key} the use of handler:{handler}, with a second administrator's approval)")
        if handler == NOTIFY:
            return self._template_refusal(params.get("template"), process_key)
        return None

    def _template_refusal(self, template: Any, process_key: str) -> str | None:
        name = literal(template) if isinstance(template, str) else None
        if name is None:
            return None  # computed at run time: the notify handler checks the value it gets
        found = self._ctx.templates().get(name)
        if found is not None and found.processes is not None and process_key not in found.processes:
            allowed = ", ".join(found.processes) or "no process (the engine sends it itself)"
            return f"message template {name!r} may be sent by {allowed}, not by {process_key!r}"
        return None

    def gate(self, handler: str, process_key: str, params: Mapping[str, Any]) -> str | None:
        """The run-time check (parameters are evaluated values there)."""
        if handler == NOTIFY:
            template = params.get("template")
            return self.why_not(handler, process_key, {"template": repr(template) if isinstance(template, str) else None})
        return self.why_not(handler, process_key, params)


def literal(expression: str) -> str | None:
    """The string an expression is, when it is a string literal ('complaint_answer'); else None."""
    try:
        node = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


Gate = Callable[[str, str, Mapping[str, Any]], "str | None"]
