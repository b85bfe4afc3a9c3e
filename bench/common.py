"""What every benchmark group shares: the line printer's type, progress notes, and the percentile."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# line(name, value, unit, baseline) prints ``bench <name> <value> <unit> baseline=<b> ratio=<value/b>``.
Line = Callable[[str, float, str, float], None]


def note(message: str) -> None:
    """Progress on stderr, so stdout keeps only the ``bench`` lines."""
    print(f"# {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The value at rank round(q% of n − 1) of the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@contextmanager
def scratch_engine(postgres_url: str, group: str) -> Iterator[object]:
    """An engine context on a fresh PostgreSQL database made for this group and dropped afterwards."""
    from sqlalchemy import create_engine, text

    from engine.config import DatabaseSettings, PrivacySettings, Settings, normalize_database_url
    from engine.context import build_engine
    from engine.privacy import new_data_key

    admin = create_engine(normalize_database_url(postgres_url), isolation_level="AUTOCOMMIT")
    name = f"careflow_bench_{group}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        own = admin.url.set(database=name).render_as_string(hide_password=False)
        ctx = build_engine(Settings(database=DatabaseSettings(url=own), privacy=PrivacySettings(data_key=new_data_key())))
        try:
            yield ctx
        finally:
            ctx.db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
