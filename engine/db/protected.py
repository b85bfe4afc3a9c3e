"""Encrypted columns that read like plain attributes: ``customer.name`` and ``customer.birth_date``.

The table holds ``name_enc`` and ``birth_date_enc`` (AES-GCM bound to table, column and row, ``engine.privacy``);
the model exposes ``name`` and ``birth_date`` as Python attributes (:class:`Protected`) that decrypt on first read
and are encrypted again before a flush when they were set. So the code that reads a customer's name or age (care
scans, suitability, the 360 view, message salutations) keeps reading an attribute, and nothing can filter on the
clear value in SQL: a name search goes through the blind index ``name_search`` instead.

The cipher comes from the session (``session.info["cipher"]``, a callable ``build_engine`` installs on its session
factory), else from the process default :func:`use_cipher` (sessions opened directly on an engine, e.g. in tests).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import date
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import flag_dirty

from engine.errors import ConfigurationError
from engine.privacy import FieldCipher, Where

T = TypeVar("T")
_default: Callable[[], FieldCipher] | None = None


def use_cipher(source: Callable[[], FieldCipher]) -> None:
    """The cipher for sessions that carry none of their own (set by ``build_engine``)."""
    global _default
    _default = source


def cipher_of(session: Session | None) -> FieldCipher:
    source = session.info.get("cipher") if session is not None else None
    source = source or _default
    if source is None:
        raise ConfigurationError("no data keys: build the engine context before reading personal data")
    return source()


class Protected(Generic[T]):
    """A clear-text attribute over an encrypted column ``<name>_enc`` of the same row."""

    def __init__(self, table: str, decode: Callable[[str], T], encode: Callable[[T], str], row: str = "id") -> None:
        # ``row``: the attribute naming the row in the binding; it must be known before the row is inserted
        self.table, self.decode, self.encode, self.row = table, decode, encode, row
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.column = f"{name}_enc"
        self._value, self._source, self._dirty = f"_clear_{name}", f"_clear_source_{name}", f"_clear_dirty_{name}"

    @overload
    def __get__(self, obj: None, owner: type) -> Protected[T]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> T | None: ...

    def __get__(self, obj: object | None, owner: type) -> Protected[T] | T | None:
        if obj is None:
            return self
        state = obj.__dict__
        if state.get(self._dirty):
            return state.get(self._value)
        token = getattr(obj, self.column)
        if token is None:
            return None
        if state.get(self._source) != token:  # first read, or the column was reloaded
            text = cipher_of(object_session(obj)).decrypt(token, self.where(obj))
            state[self._value], state[self._source] = (self.decode(text) if text is not None else None), token
        return state[self._value]

    def __set__(self, obj: object, value: T | None) -> None:
        obj.__dict__[self._value] = value
        obj.__dict__[self._dirty] = True
        with _lock:
            _pending.add(obj)
        if "_sa_instance_state" in obj.__dict__:
            # A loaded row whose only change is this value: without the mark, its session would see nothing to
            # flush, and the before-flush hook that encrypts the value into the column would never run.
            flag_dirty(obj)

    def where(self, obj: object) -> Where:
        return Where(self.table, self.name, str(getattr(obj, self.row)))

    def seal(self, obj: object, cipher: FieldCipher) -> bool:
        """Encrypt a value set since the last flush into the column; True if there was one."""
        state = obj.__dict__
        if not state.pop(self._dirty, False):
            return False
        value = state.get(self._value)
        token = cipher.encrypt(self.encode(value), self.where(obj)) if value not in (None, "") else None
        setattr(obj, self.column, token)
        state[self._source] = token
        return True


def protected_text(table: str, row: str = "id") -> Protected[str]:
    return Protected(table, str, str, row)


def protected_date(table: str) -> Protected[date]:
    return Protected(table, date.fromisoformat, date.isoformat)


class HasProtected:
    """Mixin: the protected attributes of a model, sealed before each flush; ``on_seal`` keeps derived columns."""

    __protected__: tuple[str, ...] = ()

    def on_seal(self, cipher: FieldCipher, changed: set[str]) -> None:
        """Derived columns (a blind index) after ``changed`` attributes were sealed."""


# Objects with a protected attribute set since their last flush (weakly held: a discarded object just goes away), so
# that a flush looks at those only, not at every object of a large session.
_pending: weakref.WeakSet[object] = weakref.WeakSet()
_lock = threading.Lock()


@event.listens_for(Session, "before_flush")
def _seal_protected(session: Session, _context: Any, _instances: Any) -> None:
    with _lock:
        targets = [o for o in _pending if isinstance(o, HasProtected) and object_session(o) is session]
        for obj in targets:
            _pending.discard(obj)
    if not targets:
        return
    cipher = cipher_of(session)
    for obj in targets:
        changed = {name for name in obj.__protected__ if getattr(type(obj), name).seal(obj, cipher)}
        if changed:
            obj.on_seal(cipher, changed)
