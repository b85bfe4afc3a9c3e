"""Named context providers and which ones a user task lists.

A user task lists them in its BPMN extension property ``context`` (comma-separated names) or in its form's
``"careflow": {"context": ["complaint_case", ...]}``; the property's come first, each name once. The built-in
providers are in :mod:`engine.casefile.providers`; an installation adds its own with :func:`register`.
Deploying a process that names an unknown provider is refused (``engine.bpmn.loader`` asks :func:`known`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.bpmn.extensions import properties
from engine.casefile.model import Reading, Section
from engine.casefile.providers import BUILT_IN

Provider = Callable[[Reading], Section | None]
_PROVIDERS: dict[str, Provider] = dict(BUILT_IN)


def register(name: str, provider: Provider) -> None:
    """Make ``provider`` available to tasks under ``name`` (replacing one of that name)."""
    if not name.isidentifier():
        raise ValueError(f"a context provider's name is an identifier, got {name!r}")
    _PROVIDERS[name] = provider


def names() -> frozenset[str]:
    """Every provider a task may list."""
    return frozenset(_PROVIDERS)


def known(name: str) -> bool:
    return name in _PROVIDERS


def provider(name: str) -> Provider | None:
    return _PROVIDERS.get(name)


def listed(task_spec: Any, form: dict[str, Any] | None) -> tuple[str, ...]:
    """The providers a task lists: its ``context`` property, then its form's ``careflow.context``."""
    names = [p.strip() for p in (properties(task_spec).get("context") or "").split(",") if p.strip()] \
        if task_spec is not None else []
    extra = ((form or {}).get("careflow") or {}).get("context") or []
    if isinstance(extra, list):
        names += [str(n).strip() for n in extra if str(n).strip()]
    return tuple(dict.fromkeys(names))
