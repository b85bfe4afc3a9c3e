"""Login throttling: wrong passwords counted per account and per address, in the database.

Not a lock: after ``settings.security.login_throttle_after`` wrong passwords for one account (``login_throttle_ip_after``
from one address) each further one makes the next try wait twice as long as the one before, up to
``login_throttle_max_seconds``. A stranger who guesses at someone's account can slow them down by minutes, never
shut them out, and never end a session they already have; an administrator clears an account's count at once.

Counters are rows, so every web worker and node shares them. Addresses are stored only as keyed hashes
(engine.privacy). A right password clears the account's count, not the address's: one good account must not wipe
the record of guessing at others.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from engine import audit
from engine.context import EngineContext
from engine.db.auth_state import LoginThrottle
from engine.db.session import unit_of_work
from engine.errors import RateLimitedError

FORGET_AFTER = timedelta(hours=24)  # a count with no new failure for this long starts again from zero


def account_key(username: str) -> str:
    return "user:" + username[:150]


def address_key(ctx: EngineContext, ip: str | None) -> str | None:
    hashed = ctx.cipher.index(ip) if ip else None
    return f"ip:{hashed}" if hashed else None


def check(ctx: EngineContext, keys: list[str]) -> None:
    """Raise RateLimitedError (with the seconds to wait) while any of ``keys`` must wait."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions, write=False) as session:
        waits = [row.blocked_until for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
                 if row.blocked_until is not None and row.blocked_until > now]
    if waits:
        seconds = max(1, math.ceil((max(waits) - now).total_seconds()))
        raise RateLimitedError(f"too many wrong passwords: try again in {seconds} seconds", retry_after=seconds)


def record_failure(ctx: EngineContext, keys: list[tuple[str, int]], *, username: str) -> None:
    """Count one wrong password against each (key, free attempts); a key over its allowance starts waiting
    (audited as ``login.throttled`` on the account's stream)."""
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        for key, allowed in keys:
            row = _locked_row(session, key, now)
            if now - row.last_failure_at > FORGET_AFTER:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            if row.failures >= allowed:
                delay = min(2 ** (row.failures - allowed), ctx.settings.security.login_throttle_max_seconds)
                row.blocked_until = now + timedelta(seconds=delay)
                audit.append(session, stream=f"user:{username}" if key.startswith("user:") else f"login:{key}"[:200],
                             actor="system", action="login.throttled", subject_type="login", subject_id=key[:128],
                             at=now, after={"failures": row.failures, "wait_seconds": delay})


def clear(session: Session, key: str) -> None:
    """Forget a key's count (a right password for the account, an administrator's unlock)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def purge(session: Session, now: datetime) -> int:
    """Forget counts with no failure for a day (unknown names guessed at would otherwise pile up)."""
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - FORGET_AFTER))
    return int(getattr(result, "rowcount", 0) or 0)


def _locked_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The key's row, created if missing, locked for this transaction (two workers never lose a count)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(LoginThrottle).values(key=key, failures=0, last_failure_at=now, blocked_until=None)
                    .on_conflict_do_nothing(index_elements=["key"]))
    row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
                          .execution_options(populate_existing=True)).one()
    return row
