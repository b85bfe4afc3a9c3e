"""Service-task handlers of the sales processes, registered on every engine context."""

from __future__ import annotations

from engine.context import EngineContext


def register(ctx: EngineContext) -> None:
    """Add this package's handlers to ``ctx`` (called by build_engine)."""
