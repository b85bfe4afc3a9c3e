"""The customers feature's view dataclasses: what its use cases return (frozen, never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CustomerSummary:
    """What a task page shows about its customer; contact data masked (docs/domain.md §3.3 minimum necessary)."""

    id: str
    name: str
    tier: str
    manager: str | None
    branch: str | None
    phone: str
    age: int | None
    do_not_disturb: bool
    marketing_consent: bool
    status: str
