"""Global search: one box for what a caller says — a case number, a customer number, a name, a phone number, a
business key, words of the complaint — answered with the cases, customers, tasks and instances the asker may see.

What matches (each kind of result at most ``limit``):

- **customers**: the customer id, an exact phone or ID number (through the keyed lookup index, never by
  decrypting), or a name holding the query (:func:`customers_named`, on the bigram index of
  :mod:`engine.db.search`); only customers the asker's ``read`` grant covers (portfolio, branch, all), as the
  customer list does, with name and phone masked as every list masks them;
- **cases** (complaints): the case number, the complainant's phone, the customer id, the customers found above, or
  words of the summary, facts, request or complainant's name (two characters or more); for whoever may read
  ``complaint_handling``; the complainant's name masked. A customer outside the asker's grant never leads to
  anything: a phone number must not tell whose it is by the cases it brings up;
- **instances**: the instance id, the business key, the instance of a case found, the latest instances of the
  customer id or the customers found; for whoever may read them (a ``read`` grant on the process or the instance,
  or a task of it that is theirs to see);
- **tasks**: the task id and the open tasks of those instances that the asker may see, as in the inbox
  (candidate, assignee, performer, supervisor).

Every search is audited on the asker's stream (``search.performed``) with the kind of query and the customers and
cases shown, never the query itself (it may be a phone or an ID number), like every customer list read.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, true
from sqlalchemy.orm import Session

from engine import audit, authz
from engine.complaints.models import Complaint
from engine.context import EngineContext
from engine.customers.models import Customer
from engine.db import search as index
from engine.db.models import HumanTask, ProcessInstance, TaskRecord
from engine.db.search import Rows
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError
from engine.privacy import FieldCipher, customer_field, mask_name, mask_phone, normalise
from engine.runtime import lifecycle
from engine.runtime.projection import OPEN_STATES
from engine.services.authz import require_any_role, require_role
from engine.views import Actor

COMPLAINT_PROCESS = "complaint_handling"
MAX_QUERY = 100
MAX_LIMIT = 50
SUMMARY_CHARS = 80
CUSTOMER_INSTANCES = 20  # the latest instances of the customers found
# Rows found by identifiers are read unordered (up to this many) and sorted here: an ORDER BY would let a planner
# without statistics (SQLite) walk a whole index in that order instead of looking the identifiers up.
FETCH_CAP = 200
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
    with unit_of_work(ctx.sessions) as session:  # one transaction with its audit event, as list_customers
        results = _Search(ctx, session, actor, query, limit).run()
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


CUSTOMER_COLUMNS = (Customer.id, *(getattr(Customer, name) for name in index.NAME_FIELDS), Customer.phone_enc,
                    Customer.tier, Customer.branch, Customer.manager)
CASE_COLUMNS = (Complaint.case_no, Complaint.status, Complaint.channel, Complaint.business_type, Complaint.summary,
                Complaint.facts, Complaint.request, Complaint.complainant_name_enc, Complaint.customer_id,
                Complaint.received_at, Complaint.instance_id)
INSTANCE_COLUMNS = (ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.business_key,
                    ProcessInstance.status, ProcessInstance.customer_id, ProcessInstance.started_at)
TASK_COLUMNS = (HumanTask.id, HumanTask.instance_id, HumanTask.process_key, HumanTask.title, HumanTask.status,
                HumanTask.assignee, HumanTask.customer_id, HumanTask.due_at, HumanTask.created_at,
                HumanTask.completed_by, HumanTask.candidate_groups, HumanTask.candidate_users, HumanTask.excluded_users)
Row: TypeAlias = Any  # a result row of one of the column lists above


# --- statements, built once per shape (engine.services.task_queries does the same) --------------------------------


def _scope(shape: tuple[bool, bool]) -> ColumnElement[bool]:
    """Customers of the asker's grant: (all?, has a portfolio?) — branches bound as ``branches``."""
    everyone, portfolio = shape
    if everyone:
        return true()
    branches = Customer.branch.in_(bindparam("branches", expanding=True))
    return or_(branches, Customer.manager == bindparam("manager")) if portfolio else branches


@functools.lru_cache(maxsize=8)
def _customers_by(column: str) -> Rows:
    return (select(*CUSTOMER_COLUMNS).where(getattr(Customer, column) == bindparam("value"))
            .order_by(Customer.id).limit(bindparam("limit")))


@functools.lru_cache(maxsize=64)
def _customers_named(tokens: int, common: bool, scope: tuple[bool, bool]) -> Rows:
    stmt = select(*CUSTOMER_COLUMNS).where(_scope(scope))
    return index.matching(stmt, Customer.id, index.SearchKind.CUSTOMER, tokens, common).limit(bindparam("limit"))


@functools.lru_cache(maxsize=16)
def _cases_by(case_no: bool, phone: bool, customers: bool) -> Rows:
    conditions = []
    if case_no:
        conditions.append(Complaint.case_no == bindparam("case_no"))
    if phone:
        conditions.append(Complaint.complainant_phone_index == bindparam("phone"))
    if customers:
        conditions.append(Complaint.customer_id.in_(bindparam("customers", expanding=True)))
    return select(*CASE_COLUMNS).where(or_(*conditions)).limit(bindparam("limit"))


@functools.lru_cache(maxsize=32)
def _cases_saying(tokens: int, common: bool) -> Rows:
    return index.matching(select(*CASE_COLUMNS), Complaint.case_no, index.SearchKind.CASE, tokens, common
                          ).limit(bindparam("limit"))


@functools.lru_cache(maxsize=16)
def _instances_by(by_id: bool, business_key: bool, ids: bool) -> Rows:
    conditions = []
    if by_id:
        conditions.append(ProcessInstance.id == bindparam("id", type_=ProcessInstance.id.type))
    if business_key:
        conditions.append(ProcessInstance.business_key == bindparam("business_key"))
    if ids:
        conditions.append(ProcessInstance.id.in_(bindparam("ids", expanding=True, type_=ProcessInstance.id.type)))
    return select(*INSTANCE_COLUMNS).where(or_(*conditions)).limit(bindparam("limit"))


@functools.lru_cache(maxsize=1)
def _instances_of() -> Rows:
    return (select(*INSTANCE_COLUMNS).where(ProcessInstance.customer_id.in_(bindparam("customers", expanding=True)))
            .limit(bindparam("limit")))


@functools.lru_cache(maxsize=4)
def _tasks_by(by_id: bool, instances: bool) -> Rows:
    conditions = []
    if by_id:
        conditions.append(HumanTask.id == bindparam("id", type_=HumanTask.id.type))
    if instances:
        # The status as an expression no index serves: SQLite, without statistics, would otherwise walk every open
        # task by the status index instead of the few instances' tasks.
        conditions.append(and_(HumanTask.instance_id.in_(bindparam("instances", expanding=True,
                                                                   type_=HumanTask.instance_id.type)),
                               func.coalesce(HumanTask.status, "").in_(OPEN_STATES)))
    return select(*TASK_COLUMNS).where(or_(*conditions)).limit(bindparam("limit"))


@functools.lru_cache(maxsize=1)
def _tasks_of() -> Rows:
    return select(*TASK_COLUMNS).where(HumanTask.instance_id.in_(bindparam("instances", expanding=True,
                                                                          type_=HumanTask.instance_id.type)))


def index_missing(ctx: EngineContext) -> bool:
    """Whether customers or complaints are stored but the search index is empty (a database upgraded to it)."""
    with unit_of_work(ctx.sessions, write=False) as session:
        if session.scalar(select(index.SearchToken.kind).limit(1)) is not None:
            return False
        return (session.scalar(select(Customer.id).limit(1)) is not None
                or session.scalar(select(Complaint.id).limit(1)) is not None)


def customers_named(ctx: EngineContext, session: Session, text: str, plan: index.Plan, scope: authz.CustomerScope,
                    limit: int) -> list[Row]:
    """Customers within ``scope`` whose name holds ``text`` (``plan``: its bigrams, rarest first), newest customer
    ids first. The one function behind finding a customer by name: the bigram index is already blind (keyed hashes),
    and the name it checks candidates against comes from ``engine.db.search.customer_text`` alone."""
    wanted = index.normalise(text)
    params: dict[str, Any] = {**index.bound(plan.tokens), "limit": limit * 2}
    if not scope.all:
        params["branches"] = sorted(scope.branches)
        if scope.manager is not None:
            params["manager"] = scope.manager
    stmt = _customers_named(len(plan.tokens), plan.common, (scope.all, scope.manager is not None))
    rows = session.connection().execute(stmt, params).all()
    return [row for row in rows if wanted in index.normalise(index.customer_text(ctx.cipher, row))][:limit]


class _Search:
    """One search: each kind of result found, then filtered to what the asker may see."""

    def __init__(self, ctx: EngineContext, session: Session, actor: Actor, query: Query, limit: int) -> None:
        self.ctx, self.session, self.actor, self.query, self.limit = ctx, session, actor, query, limit
        self.scope = authz.customer_scope(ctx, actor)
        self.reads_cases = actor.has_role("staff", "supervisor", "compliance") and authz.allows(
            ctx, actor, "read", "process", COMPLAINT_PROCESS)
        self.plans: dict[index.SearchKind, index.Plan] = {}
        if query.kind == "text":
            kinds = tuple(kind for kind, wanted in ((index.SearchKind.CUSTOMER, not self.scope.none),
                                                    (index.SearchKind.CASE, self.reads_cases)) if wanted)
            tokens = index.query_tokens(index.tokenizer(ctx.cipher), query.text)
            self.plans = index.rarest_first(session, tokens, kinds)

    def run(self) -> SearchResults:
        customers = self._customers(self._customers_by_identifier())
        # Cases and instances of the customers the asker may see, and of the customer id typed (the cases' and
        # instances' own column); never through a customer outside the grant: a phone number must not tell who
        # owns it by the cases it brings up.
        subjects = [c.id for c in customers] + ([self.query.text] if self.query.kind == "text" else [])
        cases = self._cases(subjects)
        instances = self._instances(subjects, [c.instance_id for c in cases if c.instance_id])
        tasks = self._tasks([i.id for i in instances])
        return SearchResults(
            kind=self.query.kind, cases=[_case_hit(self.ctx.cipher, c) for c in cases],
            customers=[self._customer_hit(c) for c in customers],
            tasks=[_task_hit(t) for t in tasks],
            instances=[_instance_hit(i) for i in self._readable(instances)][:self.limit],
        )

    def _all(self, stmt: Rows, **params: Any) -> list[Row]:
        return list(self.session.connection().execute(stmt, params).all())

    # customers ----------------------------------------------------------------------------------------------

    def _customers_by_identifier(self) -> list[Row]:
        q = self.query
        if q.phone:
            return self._all(_customers_by("phone_index"), value=q.phone, limit=self.limit)
        if q.id_number:
            return self._all(_customers_by("id_number_index"), value=q.id_number, limit=self.limit)
        return self._all(_customers_by("id"), value=q.text, limit=self.limit)

    def _customers(self, known: list[Row]) -> list[Row]:
        if self.scope.none:
            return []
        found = [c for c in known if self.scope.covers(c.branch, c.manager)]
        plan = self.plans.get(index.SearchKind.CUSTOMER)
        if plan and len(found) < self.limit:
            seen = {c.id for c in found}
            found += [c for c in customers_named(self.ctx, self.session, self.query.text, plan, self.scope,
                                                 self.limit) if c.id not in seen]
        return found[:self.limit]

    def _customer_hit(self, row: Row) -> CustomerHit:
        phone = self.ctx.cipher.decrypt(row.phone_enc, customer_field("phone", row.id)) if row.phone_enc else None
        return CustomerHit(id=row.id, name=mask_name(index.customer_text(self.ctx.cipher, row)),
                           phone=mask_phone(phone), tier=row.tier,
                           branch=row.branch, manager=row.manager)

    # cases --------------------------------------------------------------------------------------------------

    def _cases(self, customer_ids: list[str]) -> list[Row]:
        if not self.reads_cases:
            return []
        q = self.query
        shape = (q.kind == "case_no", q.phone is not None, bool(customer_ids))
        found: list[Row] = []
        if any(shape):
            found = sorted(self._all(_cases_by(*shape), case_no=q.case_no, phone=q.phone, customers=customer_ids,
                                     limit=FETCH_CAP), key=lambda row: row.case_no, reverse=True)[:self.limit]
        plan = self.plans.get(index.SearchKind.CASE)
        if plan and len(found) < self.limit:
            wanted, seen = index.normalise(q.text), {c.case_no for c in found}
            rows = self._all(_cases_saying(len(plan.tokens), plan.common), **index.bound(plan.tokens),
                             limit=self.limit * 2)
            found += [row for row in rows if row.case_no not in seen
                      and any(wanted in index.normalise(t) for t in index.case_texts(self.ctx.cipher, row))]
        return found[:self.limit]

    # instances and tasks ------------------------------------------------------------------------------------

    def _instances(self, customer_ids: list[str], case_instances: list[uuid.UUID]) -> list[Row]:
        q = self.query
        shape = (q.uuid is not None, q.kind in ("text", "case_no", "id"), bool(case_instances))
        found: dict[uuid.UUID, Row] = {}
        if any(shape):
            for row in self._all(_instances_by(*shape), id=q.uuid, business_key=q.text, ids=case_instances,
                                 limit=FETCH_CAP):
                found[row.id] = row
        if customer_ids:
            latest = sorted(self._all(_instances_of(), customers=customer_ids, limit=FETCH_CAP),
                            key=lambda row: row.started_at, reverse=True)
            for row in latest[:CUSTOMER_INSTANCES]:
                found.setdefault(row.id, row)
        return sorted(found.values(), key=lambda row: row.started_at, reverse=True)

    def _readable(self, rows: list[Row]) -> list[Row]:
        """Those the asker may read (engine.services.instances.may_read, for many instances in one query)."""
        def granted(row: Row) -> bool:
            return authz.allows(self.ctx, self.actor, "read", "process", row.process_key) or authz.allows(
                self.ctx, self.actor, "read", "instance", str(row.id))
        others = [row.id for row in rows if not granted(row)]
        taking_part: set[uuid.UUID] = set()
        if others:
            taking_part = {t.instance_id for t in self._all(_tasks_of(), instances=others)
                           if lifecycle.can_see(self.actor, TaskRecord(**t._mapping))}
        return [row for row in rows if row.id not in others or row.id in taking_part]

    def _tasks(self, instance_ids: list[uuid.UUID]) -> list[Row]:
        shape = (self.query.uuid is not None, bool(instance_ids))
        if not any(shape):
            return []
        rows = sorted(self._all(_tasks_by(*shape), id=self.query.uuid, instances=instance_ids, limit=FETCH_CAP),
                      key=lambda row: row.created_at, reverse=True)
        return [t for t in rows if lifecycle.can_see(self.actor, TaskRecord(**t._mapping))][:self.limit]


def _case_hit(cipher: FieldCipher, row: Row) -> CaseHit:
    return CaseHit(case_no=row.case_no, status=row.status, channel=row.channel, business_type=row.business_type,
                   summary=row.summary[:SUMMARY_CHARS], complainant_name=mask_name(index.complainant_text(cipher, row)),
                   customer_id=row.customer_id, received_at=row.received_at,
                   instance_id=str(row.instance_id) if row.instance_id else None)


def _task_hit(row: Row) -> TaskHit:
    return TaskHit(id=str(row.id), instance_id=str(row.instance_id), process_key=row.process_key, title=row.title,
                   status=row.status, assignee=row.assignee, customer_id=row.customer_id, due_at=row.due_at,
                   created_at=row.created_at)


def _instance_hit(row: Row) -> InstanceHit:
    return InstanceHit(id=str(row.id), process_key=row.process_key, business_key=row.business_key, status=row.status,
                       customer_id=row.customer_id, started_at=row.started_at)


def results_count(results: SearchResults) -> int:
    return len(results.cases) + len(results.customers) + len(results.tasks) + len(results.instances)


