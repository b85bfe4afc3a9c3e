"""The only place in CareFlow that reads the wall clock.

Everything else asks an injected :class:`Clock`. Times are always timezone-aware UTC.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Reads the machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime not allowed: {moment!r}")
    return moment.astimezone(UTC)


class FrozenClock:
    """A clock that only moves when told to: for tests and for ``timers fire --now``."""

    def __init__(self, current: datetime) -> None:
        self._current = _require_aware(current)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._current

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._current += delta
            return self._current

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._current = _require_aware(moment)


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; refuses naive datetimes."""
    return _require_aware(moment)
