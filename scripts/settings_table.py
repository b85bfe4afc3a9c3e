"""README's settings table, made from the fields of engine.config.Settings.

    python -m scripts.settings_table            # print the table
    python -m scripts.settings_table --write    # put it into README.md between the markers

tests/unit/test_settings_table.py fails when README.md's table differs from this one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from engine.config import SettingSpec, specs

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def shown(value: Any) -> str:
    """A default written the way the environment variable takes it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return ",".join(":".join(shown(part) for part in item) for item in value) or "empty"
        return ",".join(shown(item) for item in value) or "empty"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def row(spec: SettingSpec) -> str:
    kind = spec.form
    if spec.shown_default is not None:
        default = spec.shown_default
    elif spec.secret:
        default = "unset"
    else:
        default = f"`{_cell(shown(spec.env_default if spec.env_default is not None else spec.default))}`"
    aliases = ", ".join(f"`{a}`" for a in spec.aliases)
    return f"| `{spec.variable}` | {aliases} | {_cell(kind)} | {default} | {_cell(spec.doc)} |"


def table() -> str:
    lines = ["| variable | older name (alias) | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    return "\n".join(lines + [row(spec) for spec in specs()]) + "\n"


def with_table(readme: str) -> str:
    """``readme`` with the generated table between the markers."""
    head, begin, rest = readme.partition(BEGIN)
    _old, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"README.md needs the markers {BEGIN} and {END}")
    return f"{head}{BEGIN}\n{table()}{END}{tail}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        README.write_text(with_table(README.read_text("utf-8")), "utf-8")
        return 0
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
