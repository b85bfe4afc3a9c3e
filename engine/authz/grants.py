"""The grants in memory, and the one check every service makes: may this actor do this to this resource?

Grants are few (hundreds) and read on every request, so each process keeps the whole table in memory and reads
it again when it is older than ``Settings.security.authz_refresh_seconds`` (10 s by default) or when this process changed
it. A grant revoked on one node therefore stops working on the others within that time; the node that revoked
it stops at once.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.authz.catalogue import ANY, CUSTOMER_ACTS
from engine.views import Actor


@dataclass(frozen=True)
class GrantRow:
    principal_kind: str
    principal: str
    resource_kind: str
    resource_id: str
    permission: str


Index = dict[tuple[str, str], dict[tuple[str, str], frozenset[str]]]


def principals(actor: Actor) -> list[tuple[str, str]]:
    """Who ``actor`` is, as grant principals: the user, each role, each group."""
    found = [("user", actor.username)]
    found += [("role", role) for role in sorted(actor.roles)]
    found += [("group", group) for group in sorted(actor.groups)]
    return found


class GrantTable:
    def __init__(self, loader: Callable[[], Iterable[GrantRow]], max_age: float) -> None:
        self._loader = loader
        self._max_age = max_age
        self._lock = threading.Lock()
        self._index: Index | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        """Read the table again before the next check (this process changed it)."""
        with self._lock:
            self._index = None

    def _current(self) -> Index:
        with self._lock:
            if self._index is not None and time.monotonic() - self._loaded_at < self._max_age:
                return self._index
        rows = list(self._loader())
        index: dict[tuple[str, str], dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
        for row in rows:
            index[(row.principal_kind, row.principal)][(row.resource_kind, row.permission)].add(row.resource_id)
        frozen: Index = {who: {what: frozenset(ids) for what, ids in grants.items()} for who, grants in index.items()}
        with self._lock:
            self._index, self._loaded_at = frozen, time.monotonic()
        return frozen

    def resources(self, actor: Actor, permission: str, kind: str) -> frozenset[str]:
        """The resource ids (``*`` included) of ``kind`` on which ``actor`` holds ``permission``."""
        index = self._current()
        found: set[str] = set()
        for who in principals(actor):
            found |= index.get(who, {}).get((kind, permission), frozenset())
        return frozenset(found)

    def allows(self, actor: Actor, permission: str, kind: str, resource_id: str) -> bool:
        ids = self.resources(actor, permission, kind)
        if resource_id in ids:
            return True
        # "*" covers every resource of the kind, except the customer's own acts among messages.
        return ANY in ids and not (kind == "message" and resource_id in CUSTOMER_ACTS)

    def process_may_use(self, process_key: str, handler: str) -> bool:
        """A reviewed capability: a grant to ``process:<key>`` of ``use`` on the handler."""
        ids = self._current().get(("process", process_key), {}).get(("handler", "use"), frozenset())
        return handler in ids or ANY in ids
