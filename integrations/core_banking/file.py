"""A core-banking export on disk: a JSON list of customers, or CSV files (see customer_import)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.customers.records import parse_records


class FileCoreBanking:
    """Reads ``path`` (``.json`` or ``.csv``); CSV may come with account and holding files.

    ``since`` is ignored: an export file is a full snapshot, and re-importing unchanged
    customers changes nothing (they count as unchanged).
    """

    def __init__(self, path: Path, *, accounts: Path | None = None, holdings: Path | None = None) -> None:
        self.path = path
        self.accounts = accounts
        self.holdings = holdings
        self.name = path.name
        self.format = "json" if path.suffix.lower() == ".json" else "csv"

    def fetch_customers(self, since: datetime | None = None) -> Iterable[dict[str, Any]]:
        records, problems = parse_records(
            self.format, self.path.read_bytes(),
            accounts=self.accounts.read_bytes() if self.accounts else None,
            holdings=self.holdings.read_bytes() if self.holdings else None,
        )
        if problems and not records:  # an unreadable file; bad lines are the import's to report
            raise ValueError("; ".join(p["message_en"] for p in problems[:5]))
        return [record for _, record in records]
