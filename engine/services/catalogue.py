"""The catalogue of service handlers a designer may use: each with its description, parameters and the processes
allowed to call it (engine.runtime.handler_catalogue, engine.runtime.handlers)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.context import EngineContext
from engine.runtime.handler_catalogue import HandlerParam, info_for
from engine.services.authz import require_role
from engine.views import Actor


@dataclass(frozen=True)
class HandlerEntry:
    name: str
    description_zh: str | None
    description_en: str | None
    params: tuple[HandlerParam, ...]
    processes: tuple[str, ...] | None  # None: any process may call it
    writes_records: bool
    allowed: bool  # for the process asked about (True when none was named)


def list_handlers(ctx: EngineContext, *, actor: Actor, process_key: str | None = None) -> list[HandlerEntry]:
    """Every registered handler, by name; ``allowed`` says whether ``process_key`` may call it (its binding or an
    administrator's grant). Designers and supervisors."""
    require_role(actor, "designer", "supervisor")
    policy = ctx.handler_policy
    entries = []
    for name in sorted(ctx.handlers):
        info = info_for(name, ctx.handler_info.get(name))
        allowed = process_key is None or policy.why_not(name, process_key, {}) is None
        entries.append(HandlerEntry(
            name, info.description_zh if info else None, info.description_en if info else None,
            info.params if info else (), ctx.handler_scopes.get(name), bool(info and info.writes_records), allowed))
    return entries
