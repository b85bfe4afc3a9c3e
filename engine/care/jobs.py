"""The care feature's hook into the engine: its daily scans, registered on every engine context (build_engine)."""

from __future__ import annotations

from engine.context import EngineContext


def register(ctx: EngineContext) -> None:
    """Add the daily care scans (birthdays, holidays, revisits, tiers, scores) at ``settings.care.scan_time``."""
    ctx.register_daily_job("care.scans", ctx.settings.care.scan_time, lambda: _scan(ctx))


def _scan(ctx: EngineContext) -> object:
    from engine.care.scans import run_daily_scans  # at run time: the scans reach most features

    return run_daily_scans(ctx)
