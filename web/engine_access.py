"""The one place that reads the engine context from the Flask app."""

from __future__ import annotations

from flask import current_app

from engine.context import EngineContext


def current_engine() -> EngineContext:
    ctx: EngineContext = current_app.extensions["careflow"]
    return ctx
