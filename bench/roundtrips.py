"""Round trips per one-task lifecycle on PostgreSQL: ``python -m bench.roundtrips [N]`` (needs ``strace``).

A round trip is the client waiting for the server's answer; counted as the reads that bring server data
(``recvfrom`` returning bytes) while N lifecycles run (default 50), after a warm-up, divided by N. Unlike the
rates it does not depend on the machine's load. Sends are counted too: in pipeline mode several statements go
before one answer is read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

_START, _END = b"careflow-roundtrips-start\n", b"careflow-roundtrips-end\n"


def _inner(count: int) -> None:
    from bench import __main__ as bench

    pg = bench.postgres_url()
    if pg is None:
        raise SystemExit("PostgreSQL unreachable")
    ctx, run = bench.engine_lifecycle(bench.fresh_postgres(pg))
    for _ in range(10):
        run()
    os.write(2, _START)
    for _ in range(count):
        run()
    os.write(2, _END)
    ctx.db.dispose()


def main(count: int) -> None:
    with tempfile.NamedTemporaryFile(suffix=".strace") as trace:
        subprocess.run(["strace", "-f", "-e", "trace=sendto,recvfrom,write", "-o", trace.name, sys.executable, "-m",
                        "bench.roundtrips", "--inner", str(count)], check=True, stderr=subprocess.DEVNULL)
        lines = open(trace.name, encoding="utf-8", errors="replace").read().splitlines()
    inside, received, sent = False, 0, 0
    for line in lines:
        if "careflow-roundtrips-start" in line:
            inside = True
        elif "careflow-roundtrips-end" in line:
            inside = False
        elif inside and "recvfrom(" in line and not re.search(r"= -1 ", line):
            received += 1
        elif inside and "sendto(" in line:
            sent += 1
    print(f"bench roundtrips_per_lifecycle_postgres {received / count:.1f} round trips "
          f"(sends {sent / count:.1f})", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--inner"]:
        _inner(int(args[1]))
    else:
        main(int(args[0]) if args else 50)
