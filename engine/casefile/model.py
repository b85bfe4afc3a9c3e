"""What a case file is made of: sections of labelled facts, timeline entries, files and submissions.

Labels are keys (``facts``, ``target_due_on``): the web layer turns them into words in the page's language, so
the engine carries no UI text. Values are already masked for the viewer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.views import Actor

if TYPE_CHECKING:
    from engine.bpmn.loader import ParsedBundle
    from engine.context import EngineContext
    from engine.db.models import InstanceLike, TaskRecord

Value = str | int | bool | date | datetime | Decimal | None


@dataclass(frozen=True)
class Fact:
    """One labelled value. ``kind``: text | long (multi-line text) | date | datetime | money | code:<axis> (a
    classification code the web labels) | level (C1–C5) | choice:<name> (a value from a small closed set)."""

    key: str
    value: Value
    kind: str = "text"


@dataclass(frozen=True)
class Entry:
    """One line of a timeline: what happened (``kind``, with its zh/en words when the engine has them), who did it,
    and the details that matter to a reader (already words or codes the web labels)."""

    at: datetime
    kind: str
    label_zh: str
    label_en: str
    actor: str | None = None
    details: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class FileRef:
    id: int
    filename: str
    uploaded_by: str
    at: datetime
    from_customer: bool


@dataclass(frozen=True)
class Submission:
    """What a task's form held when someone completed it; ``previous`` is the same task's submission before it
    (after a send-back), for the diff."""

    element_id: str
    title: str
    form: dict[str, Any] | None
    data: dict[str, Any]
    by: str
    at: datetime
    round: int = 1
    previous: dict[str, Any] | None = None

    @property
    def changed(self) -> tuple[str, ...]:
        """The keys whose value differs from the previous submission (none without one)."""
        if self.previous is None:
            return ()
        keys = sorted(set(self.data) | set(self.previous))
        return tuple(k for k in keys if self.data.get(k) != self.previous.get(k))


@dataclass(frozen=True)
class Section:
    name: str  # the provider's name: the web's heading key
    facts: tuple[Fact, ...] = ()
    entries: tuple[Entry, ...] = ()
    files: tuple[FileRef, ...] = ()
    submissions: tuple[Submission, ...] = ()
    withheld: bool = False  # the viewer lacks the permission this section needs: nothing of it is here


@dataclass
class Reading:
    """What a provider reads with: the engine, the open read session, the viewer, the task and its instance.

    A provider that shows personal data of a customer adds the customer's id to ``customers_shown`` (and a
    complaint's case number to ``cases_shown``): the service audits those views with ``purpose``.
    """

    ctx: EngineContext
    session: Session
    actor: Actor
    task: TaskRecord | None  # None: the case file of a whole case (the complaints desk), not of one task
    instance: InstanceLike
    bundle: ParsedBundle
    purpose: str  # task:<id>, or complaint:<case no> on the complaints desk
    customers_shown: set[str] = field(default_factory=set)
    cases_shown: set[str] = field(default_factory=set)

    @property
    def customer_id(self) -> str | None:
        return (self.task.customer_id if self.task is not None else None) or self.instance.customer_id

    @property
    def instance_id(self) -> uuid.UUID:
        return self.instance.id
