"""The engine context: everything a service function needs, built once at start-up."""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.bpmn.loader import ParsedBundle
from engine.bpmn.workflow import ServiceHandler
from engine.clock import Clock, SystemClock
from engine.config import Settings
from engine.db.session import make_db_engine, make_session_factory
from engine.errors import ConfigurationError

# (form definition, submitted data) -> cleaned data, or raise FormValidationError.
FormValidator = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class SpecCache:
    """Parsed specs per definition id (immutable versions, so entries never go stale)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[int, ParsedBundle] = OrderedDict()
        self._lock = Lock()

    def get(self, definition_id: int) -> ParsedBundle | None:
        with self._lock:
            bundle = self._items.get(definition_id)
            if bundle is not None:
                self._items.move_to_end(definition_id)
            return bundle

    def put(self, definition_id: int, bundle: ParsedBundle) -> None:
        with self._lock:
            self._items[definition_id] = bundle
            self._items.move_to_end(definition_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __contains__(self, definition_id: int) -> bool:
        with self._lock:
            return definition_id in self._items


@dataclass
class EngineContext:
    settings: Settings
    clock: Clock
    db: Engine
    sessions: sessionmaker[Session]
    specs: SpecCache
    handlers: dict[str, ServiceHandler] = field(default_factory=dict)
    form_validator: FormValidator | None = None

    def register_handler(self, name: str, handler: ServiceHandler) -> None:
        self.handlers[name] = handler


def build_engine(
    settings: Settings,
    *,
    clock: Clock | None = None,
    handlers: Mapping[str, ServiceHandler] | None = None,
    form_validator: FormValidator | None = None,
    db: Engine | None = None,
) -> EngineContext:
    """Create the context: database engine, session factory, spec cache, handlers.

    ``settings.handler_modules`` name modules with a ``register(ctx)`` function that adds
    service-task handlers; this is how ``integrations`` plugs in without the engine
    importing it.
    """
    from engine.forms import validate_submission

    db = db or make_db_engine(settings)
    ctx = EngineContext(
        settings=settings,
        clock=clock or SystemClock(),
        db=db,
        sessions=make_session_factory(db),
        specs=SpecCache(settings.spec_cache_size),
        handlers=dict(handlers or {}),
        form_validator=form_validator or validate_submission,
    )
    for dotted in settings.handler_modules:
        module_name, _, attr = dotted.partition(":")
        try:
            register = getattr(importlib.import_module(module_name), attr or "register")
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"cannot load handler module {dotted!r}: {exc}") from exc
        register(ctx)
    return ctx
