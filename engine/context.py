"""The engine context: everything a service function needs, built once at start-up."""

from __future__ import annotations

import importlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import audit, wakeups
from engine.authz.grants import GrantRow, GrantTable
from engine.bpmn.loader import ParsedBundle
from engine.bpmn.workflow import ServiceHandler
from engine.clock import Clock, SystemClock
from engine.config import Settings, load_keyring
from engine.db import (
    protected,
    registry,  # noqa: F401  (every table, so a flush orders inserts across features)
)
from engine.db import search as search_index
from engine.db.calendar import read_bank_table
from engine.db.session import make_db_engine, make_session_factory
from engine.errors import ConfigurationError
from engine.outbox.ports import Channel, Directory
from engine.outbox.templates import MessageTemplate, load_templates
from engine.privacy import FieldCipher
from engine.rules.calendar import BusinessCalendar
from engine.runtime.handler_catalogue import HandlerInfo
from engine.runtime.handlers import HandlerPolicy
from engine.runtime.projection import Shaping, TaskShaper

# The bank's feature packages plug in here, by name (the engine core imports no feature): each module has
# ``register(ctx)``, which adds the feature's service handlers, task shapers, daily jobs and other hooks.
BUILTIN_HANDLER_MODULES = ("engine.complaints.handlers", "engine.sales.handlers", "engine.onboarding.handlers",
                           "engine.care.jobs", "engine.customers.outreach", "engine.dsr.erasure")

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
    cipher: FieldCipher
    calendar: BusinessCalendar
    grants: GrantTable
    handlers: dict[str, ServiceHandler] = field(default_factory=dict)
    # handler name -> the process keys it serves (engine.runtime.handlers); None: a generic handler, any process
    handler_scopes: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    # handler name -> what it does and its parameters, for the designer's catalogue (engine.runtime.handler_catalogue)
    handler_info: dict[str, HandlerInfo] = field(default_factory=dict)
    form_validator: FormValidator | None = None
    # Outbound channels by name ("sms", "email", "wechat", "inapp"); integrations add theirs in register(ctx).
    channels: dict[str, Channel] = field(default_factory=dict)
    # Called after a commit that made a timer or message due earlier ("timer"|"outbox", due time).
    wakeup_listeners: list[wakeups.Listener] = field(default_factory=list)
    # Called with (session, new task row) before a task row is inserted: a process package sets the row's SLA
    # times or other columns from its own records (engine.complaints.tasks).
    task_shapers: list[TaskShaper] = field(default_factory=list)
    # Jobs a feature runs once a day: (job id, bank-local "HH:MM", work); the scheduler adds them (engine.scheduler).
    daily_jobs: list[tuple[str, str, Callable[[], object]]] = field(default_factory=list)
    # Who a customer message goes to (consents, contact data): the customers feature's (engine.customers.outreach).
    addressees: Directory | None = None
    # Steps the nightly retention run adds (engine.services.retention): name -> (now, dry_run, actor) -> count; the
    # data-subject feature anonymises customers past the AML years (engine.dsr.erasure).
    retention_steps: dict[str, Callable[[datetime, bool, str], int]] = field(default_factory=dict)
    _templates: dict[str, MessageTemplate] | None = None

    def shaping(self) -> Shaping:
        """What the projection needs to build new task rows (due times on the calendar, the shapers)."""
        return Shaping(self.calendar, self.settings.zone, self.settings.sla.warn_share, tuple(self.task_shapers))

    def register_handler(self, name: str, handler: ServiceHandler, *, processes: tuple[str, ...] | None = None,
                         info: HandlerInfo | None = None) -> None:
        """Add a service handler. ``processes``: the process keys allowed to call it (a privileged handler that
        writes bank records); None for a generic one that any process may call. ``info``: its description and
        parameters for the designer's catalogue (the built-in handlers' are in engine.runtime.handler_catalogue)."""
        self.handlers[name] = handler
        self.handler_scopes[name] = processes
        if info is not None:
            self.handler_info[name] = info

    @property
    def handler_policy(self) -> HandlerPolicy:
        return HandlerPolicy(self)

    def register_daily_job(self, job_id: str, at: str, work: Callable[[], object]) -> None:
        """Add a job the scheduler runs once a day at ``at`` (bank-local "HH:MM"), caught up at start-up."""
        self.daily_jobs.append((job_id, at, work))

    def register_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def templates(self) -> dict[str, MessageTemplate]:
        """The message templates, loaded and checked on first use (a broken file fails loudly)."""
        if self._templates is None:
            self._templates = load_templates(self.settings.outbox.message_templates)
        return self._templates


def build_engine(
    settings: Settings,
    *,
    clock: Clock | None = None,
    handlers: Mapping[str, ServiceHandler] | None = None,
    form_validator: FormValidator | None = None,
    db: Engine | None = None,
) -> EngineContext:
    """Create the context: database engine, session factory, spec cache, handlers.

    ``settings.core.handler_modules`` name modules with a ``register(ctx)`` function that adds
    service-task handlers; this is how ``integrations`` plugs in without the engine
    importing it.
    """
    from engine.forms import validate_submission
    from engine.outbox.inapp import InAppChannel
    from engine.outbox.store import NOTIFY_HANDLER, make_notify_handler

    db = db or make_db_engine(settings)
    sessions = make_session_factory(db)
    ctx = EngineContext(
        settings=settings,
        clock=clock or SystemClock(),
        db=db,
        sessions=sessions,
        specs=SpecCache(settings.core.spec_cache_size),
        cipher=FieldCipher(load_keyring(settings), reload=None if settings.privacy.data_key else lambda: load_keyring(settings)),
        calendar=BusinessCalendar(country=settings.calendar.country, fallback=settings.calendar.fallback,
                                  loader=lambda: read_bank_table(db), max_age=settings.calendar.refresh_seconds),
        grants=GrantTable(lambda: _read_grants(sessions), settings.security.authz_refresh_seconds),
        handlers=dict(handlers or {}),
        form_validator=form_validator or validate_submission,
    )
    # The audit chain's HMAC key comes from the keyring (outside the database), like the data keys; encrypted
    # columns read as attributes (engine.db.protected) find the context's cipher through their session.
    audit.configure(ctx.cipher.audit_key)
    sessions.configure(info={"cipher": lambda: ctx.cipher})
    protected.use_cipher(lambda: ctx.cipher)
    wakeups.install(sessions, ctx.wakeup_listeners)
    search_index.install(sessions, ctx.cipher)  # customers' and complaints' search tokens, in their transaction
    ctx.register_handler(NOTIFY_HANDLER, make_notify_handler(ctx.templates, {"bank_name": settings.core.bank_name},
                                                             ctx.cipher))
    ctx.register_channel(InAppChannel(sessions, ctx.clock))
    for module_name in BUILTIN_HANDLER_MODULES:
        importlib.import_module(module_name).register(ctx)
    for dotted in settings.core.handler_modules:
        module_name, _, attr = dotted.partition(":")
        try:
            register = getattr(importlib.import_module(module_name), attr or "register")
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"cannot load handler module {dotted!r}: {exc}") from exc
        register(ctx)
    return ctx


def _read_grants(sessions: sessionmaker[Session]) -> list[GrantRow]:
    from sqlalchemy import select

    from engine.db.authz import Grant

    with sessions() as session:
        rows = session.execute(select(Grant.principal_kind, Grant.principal, Grant.resource_kind, Grant.resource_id,
                                      Grant.permission)).all()
    return [GrantRow(*row) for row in rows]
