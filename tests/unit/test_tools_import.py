"""The benchmarks and scripts are not run by the suite, but they must keep up with the code: each module imports
(a moved module or a renamed setting breaks them at import time, as bench/complaint.py was once)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"{folder}.{path.stem}" for folder in ("bench", "scripts")
                 for path in (ROOT / folder).glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_the_module_imports(module: str) -> None:
    assert importlib.import_module(module).__name__ == module


def test_there_are_modules_to_check() -> None:
    assert {"bench.__main__", "bench.complaint", "bench.scale", "scripts.settings_table"} <= set(MODULES)
