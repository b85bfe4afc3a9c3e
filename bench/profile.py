"""Profile one lifecycle line: ``python -m bench.profile NAME [OUT_DIR] [SECONDS]``.

NAME is ``lifecycle_sqlite``, ``lifecycle_postgres``, ``lifecycle_complaint_sqlite`` or ``lifecycle_complaint_postgres``.
Runs the line's lifecycle under cProfile for SECONDS (default 6) after a warm-up and writes, into OUT_DIR
(default docs/perf): ``NAME.prof`` (pstats, not committed), ``NAME.top.txt`` (the top 25 by cumulative and by
own time) and ``NAME.svg`` (a flame graph, when the ``flameprof`` package is importable).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import __main__ as bench


def _runner(name: str, tmp: str) -> tuple[Any, Callable[[], None]]:
    sqlite = name.endswith("_sqlite")
    if sqlite:
        url = f"sqlite:///{tmp}/profile.db"
    else:
        pg = bench.postgres_url()
        if pg is None:
            raise SystemExit("PostgreSQL unreachable")
        url = bench.fresh_postgres(pg)
    if name.startswith("lifecycle_complaint"):
        from bench import complaint

        return complaint.engine_lifecycle(url)
    return bench.engine_lifecycle(url)


def main(name: str, out: Path, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, run = _runner(name, tmp)
        for _ in range(20):
            run()
        profiler = cProfile.Profile()
        count, begin = 0, time.perf_counter()
        profiler.enable()
        while time.perf_counter() - begin < seconds:
            run()
            count += 1
        profiler.disable()
        ctx.db.dispose()
    prof = out / f"{name}.prof"
    profiler.dump_stats(prof)
    text = io.StringIO()
    text.write(f"# {name}: {count} lifecycles profiled in {seconds:.0f} s (cProfile adds overhead)\n\n")
    for order in ("cumulative", "tottime"):
        text.write(f"## top 25 by {order}\n\n")
        stats = pstats.Stats(str(prof), stream=text)
        stats.strip_dirs().sort_stats(order).print_stats(25)
    (out / f"{name}.top.txt").write_text(_trim(text.getvalue()))
    try:
        svg = subprocess.run([sys.executable, "-m", "flameprof", "--threshold", "1", "--width", "1600", str(prof)],
                             check=True, capture_output=True).stdout
        (out / f"{name}.svg").write_bytes(svg)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"no flame graph: {exc}", file=sys.stderr)


def _trim(report: str) -> str:
    """pstats' report without its per-file header lines and blank runs."""
    lines = [ln.rstrip() for ln in report.splitlines() if "function calls" not in ln and "Ordered by" not in ln]
    return "\n".join(ln for i, ln in enumerate(lines) if ln or (i and lines[i - 1])) + "\n"


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], Path(args[1]) if len(args) > 1 else Path("docs/perf"), float(args[2]) if len(args) > 2 else 6.0)
