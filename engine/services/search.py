"""Global search: one box for what a caller says — a case number, a customer number, a name, a phone number, a
business key, words of the complaint — answered with the cases, customers, tasks and instances the asker may see.

What matches (each kind of result at most ``limit``):

- **customers**: the customer id, an exact phone or ID number (through the keyed lookup index, never by
  decrypting), or a name holding the query (:func:`customers_named`, on the bigram index of
  :mod:`engine.db.search`); only customers the asker's ``read`` grant covers (portfolio, branch, all), as the
  customer list does, with name and phone masked as every list masks them;
- **cases** (complaints): the case number, the complainant's phone, the customer id or phone of a customer, or
  words of the summary, facts, request or complainant's name (two characters or more); for whoever may read
  ``complaint_handling``; the complainant's name masked;
- **instances**: the instance id, the business key, the instance of a case found, the latest instances of a
  customer found; for whoever may read them (a ``read`` grant on the process or the instance, or a task of it that
  is theirs to see);
- **tasks**: the task id and the open tasks of those instances that the asker may see, as in the inbox
  (candidate, assignee, performer, supervisor).

Every search is audited on the asker's stream (``search.performed``) with the kind of query and the customers and
cases shown, never the query itself (it may be a phone or an ID number), like every customer list read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.context import EngineContext
from engine.db import search as index
from engine.db.complaints import Complaint
from engine.db.models import HumanTask, ProcessInstance
from engine.db.outreach import Customer
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError
from engine.privacy import mask_name, mask_phone, normalise
from engine.runtime import lifecycle
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role, require_role
from engine.views import Actor

COMPLAINT_PROCESS = "complaint_handling"
MAX_QUERY = 100
MAX_LIMIT = 50
SUMMARY_CHARS = 80
CUSTOMER_INSTANCES = 20  # the latest instances of each customer found by an identifier
_CASE_NO = re.compile(r"TS\d{8}-?\d{6}")


@dataclass(frozen=True)
class CustomerHit:
    id: str
    name: str  # masked
    phone: str  # masked
    tier: str
    branch: str | None
    manager: str | None


@dataclass(frozen=True)
class CaseHit:
    case_no: str
    status: str
    channel: str
    business_type: str
    summary: str  # the first SUMMARY_CHARS characters
    complainant_name: str  # masked
    customer_id: str | None
    received_at: datetime
    instance_id: str | None


@dataclass(frozen=True)
class TaskHit:
    id: str
    instance_id: str
    process_key: str
    title: str
    status: str
    assignee: str | None
    customer_id: str | None
    due_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class InstanceHit:
    id: str
    process_key: str
    business_key: str | None
    status: str
    customer_id: str | None
    started_at: datetime


@dataclass(frozen=True)
class SearchResults:
    kind: str  # what the query looked like: phone | id_number | case_no | id | text
    cases: list[CaseHit] = field(default_factory=list)
    customers: list[CustomerHit] = field(default_factory=list)
    tasks: list[TaskHit] = field(default_factory=list)
    instances: list[InstanceHit] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    """The asker's text read every way it can mean something."""

    text: str  # as typed, trimmed
    kind: str
    phone: str | None = None  # lookup index of an 11-digit mainland mobile number
    id_number: str | None = None  # lookup index of an 18-character ID number
    uuid: uuid.UUID | None = None

    @classmethod
    def parse(cls, ctx: EngineContext, raw: str) -> Query:
        text = (raw or "").strip()
        if not text:
            raise InvalidInputError("say what to look for", details={"field": "q"})
        if len(text) > MAX_QUERY or "\x00" in text:
            raise InvalidInputError(f"a search is at most {MAX_QUERY} characters", details={"field": "q"})
        compact = normalise(text)
        if len(compact) == 11 and compact.isdigit() and compact.startswith("1"):
            return cls(text, "phone", phone=ctx.cipher.index(compact))
        if len(compact) == 18 and compact[:17].isdigit():
            return cls(text, "id_number", id_number=ctx.cipher.index(compact))
        if _CASE_NO.fullmatch(text.upper()):
            return cls(text, "case_no")
        try:
            return cls(text, "id", uuid=uuid.UUID(text))
        except ValueError:
            return cls(text, "text")

    @property
    def case_no(self) -> str:
        upper = self.text.upper()
        return upper if "-" in upper or not _CASE_NO.fullmatch(upper) else f"{upper[:10]}-{upper[10:]}"


def search(ctx: EngineContext, q: str, *, actor: Actor, limit: int = 10) -> SearchResults:
    """Cases, customers, tasks and instances matching ``q`` that ``actor`` may see, masked; audited on the actor's
    stream. Raises InvalidInputError (empty or too long a query, limit out of range), PermissionDeniedError (not
    staff)."""
    require_any_role(actor)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", details={"field": "limit"})
    query = Query.parse(ctx, q)
    with unit_of_work(ctx.sessions, write=False) as session:
        results = _Search(ctx, session, actor, query, limit).run()
    with unit_of_work(ctx.sessions) as session:
        audit.append(session, stream=f"user:{actor.username}", actor=actor.username, action="search.performed",
                     subject_type="user", subject_id=actor.username, at=ctx.clock.now(),
                     after={"search": query.kind, "shown": {"customers": [c.id for c in results.customers],
                                                            "cases": [c.case_no for c in results.cases]}})
    return results


def reindex(ctx: EngineContext, *, actor: Actor) -> tuple[int, int]:
    """Rebuild the search index from every customer and complaint (after migration 0024, a new data key, or rows
    written around the ORM); audited on ``search:index``. Returns (documents, tokens). Raises
    PermissionDeniedError (administrators only)."""
    require_role(actor, "admin")
    documents, tokens = index.reindex(ctx.sessions, ctx.cipher)
    with unit_of_work(ctx.sessions) as session:
        audit.append(session, stream="search:index", actor=actor.username, action="search.reindexed",
                     subject_type="search", subject_id="index", at=ctx.clock.now(),
                     after={"documents": documents, "tokens": tokens})
    return documents, tokens


def customers_named(ctx: EngineContext, session: Session, text: str, where: ColumnElement[bool],
                    limit: int) -> list[Customer]:
    """Customers (satisfying ``where``) whose name holds ``text`` (two characters or more), newest customer ids
    first. The one function behind finding a customer by name: the bigram index is already blind (keyed hashes),
    and the name it checks candidates against comes from ``engine.db.search.customer_text`` alone."""
    tok = index.tokenizer(ctx.cipher)
    tokens = index.rarest_first(session, tok, index.SearchKind.CUSTOMER, text)
    if not tokens:
        return []
    wanted = index.normalise(text)
    stmt = index.matching(select(Customer).where(where), Customer.id, index.SearchKind.CUSTOMER, tokens)
    rows = session.scalars(stmt.limit(limit * 2)).all()
    return [row for row in rows if wanted in index.normalise(index.customer_text(ctx.cipher, row))][:limit]


class _Search:
    """One search: each kind of result found, then filtered to what the asker may see."""

    def __init__(self, ctx: EngineContext, session: Session, actor: Actor, query: Query, limit: int) -> None:
        self.ctx, self.session, self.actor, self.query, self.limit = ctx, session, actor, query, limit

    def run(self) -> SearchResults:
        known = self._customers_by_identifier()  # whatever the asker's scope: they lead to cases and instances
        customers = self._customers(known)
        cases = self._cases([c.id for c in known])
        subjects = list(dict.fromkeys([c.id for c in known] + [c.id for c in customers]))
        instances = self._instances(subjects, [c.instance_id for c in cases if c.instance_id])
        tasks = self._tasks([i.id for i in instances])
        return SearchResults(
            kind=self.query.kind, cases=[self._case_hit(c) for c in cases],
            customers=[self._customer_hit(c) for c in customers],
            tasks=[_task_hit(t) for t in tasks],
            instances=[_instance_hit(i) for i in self._readable(instances)][:self.limit],
        )

    # customers ----------------------------------------------------------------------------------------------

    def _customers_by_identifier(self) -> list[Customer]:
        q = self.query
        if q.phone:
            condition: ColumnElement[bool] = Customer.phone_index == q.phone
        elif q.id_number:
            condition = Customer.id_number_index == q.id_number
        else:
            condition = Customer.id == q.text
        return list(self.session.scalars(select(Customer).where(condition).order_by(Customer.id).limit(self.limit)))

    def _customers(self, known: list[Customer]) -> list[Customer]:
        scope = authz.customer_scope(self.ctx, self.actor)
        if scope.none:
            return []
        found = [c for c in known if scope.covers(c.branch, c.manager)]
        if self.query.kind == "text" and len(found) < self.limit:
            where = true() if scope.all else or_(Customer.branch.in_(sorted(scope.branches)),
                                                Customer.manager == scope.manager)
            seen = {c.id for c in found}
            found += [c for c in customers_named(self.ctx, self.session, self.query.text, where, self.limit)
                      if c.id not in seen]
        return found[:self.limit]

    def _customer_hit(self, row: Customer) -> CustomerHit:
        return CustomerHit(id=row.id, name=mask_name(index.customer_text(self.ctx.cipher, row)),
                           phone=mask_phone(self.ctx.cipher.decrypt(row.phone_enc)), tier=row.tier,
                           branch=row.branch, manager=row.manager)

    # cases --------------------------------------------------------------------------------------------------

    def _cases(self, customer_ids: list[str]) -> list[Complaint]:
        if not (self.actor.has_role("staff", "supervisor", "compliance")
                and authz.allows(self.ctx, self.actor, "read", "process", COMPLAINT_PROCESS)):
            return []
        q, newest = self.query, Complaint.case_no.desc()
        conditions: list[ColumnElement[bool]] = []
        if q.kind == "case_no":
            conditions.append(Complaint.case_no == q.case_no)
        if q.phone:
            conditions.append(Complaint.complainant_phone_index == q.phone)
        if customer_ids:
            conditions.append(Complaint.customer_id.in_(customer_ids))
        found: list[Complaint] = []
        if conditions:
            found = list(self.session.scalars(select(Complaint).where(or_(*conditions)).order_by(newest)
                                              .limit(self.limit)))
        if q.kind == "text" and len(found) < self.limit:
            seen = {c.case_no for c in found}
            found += [c for c in self._cases_saying(q.text) if c.case_no not in seen]
        return found[:self.limit]

    def _cases_saying(self, text: str) -> list[Complaint]:
        tokens = index.rarest_first(self.session, index.tokenizer(self.ctx.cipher), index.SearchKind.CASE, text)
        if not tokens:
            return []
        stmt = index.matching(select(Complaint), Complaint.case_no, index.SearchKind.CASE, tokens)
        wanted = index.normalise(text)
        rows = self.session.scalars(stmt.limit(self.limit * 2)).all()
        return [row for row in rows if any(wanted in index.normalise(t) for t in index.case_texts(row))][:self.limit]

    @staticmethod
    def _case_hit(row: Complaint) -> CaseHit:
        return CaseHit(case_no=row.case_no, status=row.status, channel=row.channel, business_type=row.business_type,
                       summary=row.summary[:SUMMARY_CHARS], complainant_name=mask_name(row.complainant_name),
                       customer_id=row.customer_id, received_at=row.received_at,
                       instance_id=str(row.instance_id) if row.instance_id else None)

    # instances and tasks ------------------------------------------------------------------------------------

    def _instances(self, customer_ids: list[str], case_instances: list[uuid.UUID]) -> list[ProcessInstance]:
        q, conditions = self.query, []
        if q.uuid:
            conditions.append(ProcessInstance.id == q.uuid)
        if q.kind in ("text", "case_no", "id"):
            conditions.append(ProcessInstance.business_key == q.text)
        if case_instances:
            conditions.append(ProcessInstance.id.in_(case_instances))
        found: dict[uuid.UUID, ProcessInstance] = {}
        if conditions:
            for row in self.session.scalars(select(ProcessInstance).where(or_(*conditions))
                                            .order_by(ProcessInstance.started_at.desc()).limit(self.limit * 2)):
                found[row.id] = row
        if customer_ids:
            for row in self.session.scalars(select(ProcessInstance).where(ProcessInstance.customer_id.in_(customer_ids))
                                            .order_by(ProcessInstance.started_at.desc()).limit(CUSTOMER_INSTANCES)):
                found.setdefault(row.id, row)
        return list(found.values())

    def _readable(self, rows: list[ProcessInstance]) -> list[ProcessInstance]:
        """Those the asker may read (engine.services.instances.may_read, for many instances in one query)."""
        def granted(row: ProcessInstance) -> bool:
            return authz.allows(self.ctx, self.actor, "read", "process", row.process_key) or authz.allows(
                self.ctx, self.actor, "read", "instance", str(row.id))
        others = [row.id for row in rows if not granted(row)]
        taking_part: set[uuid.UUID] = set()
        if others:
            taking_part = {t.instance_id for t in self.session.scalars(
                select(HumanTask).where(HumanTask.instance_id.in_(others))) if lifecycle.can_see(self.actor, t)}
        return [row for row in rows if row.id not in others or row.id in taking_part]

    def _tasks(self, instance_ids: list[uuid.UUID]) -> list[HumanTask]:
        conditions: list[ColumnElement[bool]] = []
        if self.query.uuid:
            conditions.append(HumanTask.id == self.query.uuid)
        if instance_ids:
            conditions.append(HumanTask.instance_id.in_(instance_ids) & HumanTask.status.in_(OPEN_STATES))
        if not conditions:
            return []
        rows = self.session.scalars(select(HumanTask).where(or_(*conditions))
                                    .order_by(HumanTask.created_at.desc()).limit(self.limit * 5))
        return [t for t in rows if lifecycle.can_see(self.actor, t)][:self.limit]


def _task_hit(row: HumanTask) -> TaskHit:
    return TaskHit(id=str(row.id), instance_id=str(row.instance_id), process_key=row.process_key, title=row.title,
                   status=row.status, assignee=row.assignee, customer_id=row.customer_id, due_at=row.due_at,
                   created_at=row.created_at)


def _instance_hit(row: ProcessInstance) -> InstanceHit:
    return InstanceHit(id=str(row.id), process_key=row.process_key, business_key=row.business_key, status=row.status,
                       customer_id=row.customer_id, started_at=row.started_at)


def results_count(results: SearchResults) -> int:
    return len(results.cases) + len(results.customers) + len(results.tasks) + len(results.instances)


