"""What every benchmark group shares: the line printer's type, progress notes, and the percentile."""

from __future__ import annotations

import sys
from collections.abc import Callable

# line(name, value, unit, baseline) prints ``bench <name> <value> <unit> baseline=<b> ratio=<value/b>``.
Line = Callable[[str, float, str, float], None]


def note(message: str) -> None:
    """Progress on stderr, so stdout keeps only the ``bench`` lines."""
    print(f"# {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The value at rank round(q% of n − 1) of the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
