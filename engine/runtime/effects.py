"""Side effects that commit with a workflow step, or not at all.

Service-task handlers run inside SpiffWorkflow and cannot write: they leave effects on ``call.effects``
(an outbox message, a case update, a new customer), and the step applies them with its own session, in
its own transaction, after the instance row and the task rows are written and before the query tables
are rebuilt (``engine.runtime.step``). An effect that breaks a rule raises a typed error and the whole
step rolls back — the task completion that caused it included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session


class StepEffect(Protocol):
    """A write a handler asked for: applied in the step's transaction, in the order it was asked for."""

    def apply(self, session: Session, instance_id: uuid.UUID | None, now: datetime) -> None: ...


def apply_effects(session: Session, instance_id: uuid.UUID | None, effects: Iterable[StepEffect],
                  now: datetime) -> None:
    """Apply each effect in order (the caller commits, or rolls everything back)."""
    for effect in effects:
        effect.apply(session, instance_id, now)
