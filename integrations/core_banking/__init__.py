"""Core banking: where customer profiles, accounts and holdings come from.

A :class:`CoreBankingAdapter` yields one customer record per dict, in the nested form
``engine.customers.imports`` validates (the JSON import format: profile fields plus
``accounts[]``, ``holdings[]``, ``consents[]`` and the latest risk assessment). Two adapters ship:

- :class:`FileCoreBanking` reads an export file (JSON list, or CSV with optional account and
  holding CSVs) — what a bank without an API hands over every night;
- :class:`HttpCoreBanking` pages through a JSON endpoint with a bearer token or an HMAC-signed
  request (``GET {base}/customers?since=…&cursor=…``).

Either one feeds ``customer_import.start_import(ctx, name, "http", adapter.fetch_customers(since), actor)``;
validation, upserts, the per-row error report and progress counters are the engine's job, not the
adapter's. Adapters never log personal values (docs/domain.md §3.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from integrations.core_banking.file import FileCoreBanking
from integrations.core_banking.http import HttpCoreBanking

__all__ = ["CoreBankingAdapter", "FileCoreBanking", "HttpCoreBanking"]


@runtime_checkable
class CoreBankingAdapter(Protocol):
    """A source of customer records changed since a moment (``None``: everything)."""

    name: str

    def fetch_customers(self, since: datetime | None) -> Iterable[dict[str, Any]]:
        """Customer records in the import's JSON form, lazily (an adapter may page)."""
        ...
