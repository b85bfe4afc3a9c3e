"""Customer import from core banking: validate each record, upsert it in its own transaction, report per row.

Formats and validation: ``engine.customers.records``.

Rules: a record is one customer and one transaction; a bad record is skipped and reported (row, field,
zh and en message — never the value, which may be personal data) while the others go on. Upsert by
customer id; when ``accounts``/``holdings`` are given they are the
customer's full current set (missing accounts are closed, missing imported holdings redeemed). AUM is
the sum of open accounts' average daily balances (月日均), loans counting 0 (docs/domain.md §4.2). A risk level
is valid 12 months from its assessment (docs/domain.md §2.3). Updates are audited with the names of the
fields that changed, never their values; importing the same data again changes nothing and counts the
rows as unchanged. The run's counters are committed with each row, so a progress bar can poll them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.clock import as_utc
from engine.context import EngineContext
from engine.customers.accounts_models import (
    CustomerAccount,
    CustomerHolding,
    CustomerImportRun,
    Product,
    RiskAssessment,
    TierChange,
)
from engine.customers.models import Consent, Customer, CustomerStatus
from engine.customers.records import FORMATS, NO_AUM_KINDS, RISK_VALID_MONTHS, parse_records, row_error, validate_record
from engine.customers.service import CustomerInput, customer_row
from engine.db.session import unit_of_work
from engine.errors import InvalidInputError, NotFoundError
from engine.privacy import customer_field
from engine.rules.care_dates import LunarBirthday
from engine.services.authz import require_role
from engine.views import Actor

# --- the run ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRunView:
    id: int
    source: str
    format: str
    actor: str
    status: str  # running | done | failed
    total: int
    processed: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[dict[str, Any]]
    message: str | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def percent(self) -> int:
        return 100 if self.status != "running" else (100 * self.processed // self.total if self.total else 0)


def _view(row: CustomerImportRun) -> ImportRunView:
    unchanged = row.processed - row.created - row.updated - row.failed
    return ImportRunView(row.id, row.source, row.format, row.actor, row.status, row.total, row.processed, row.created,
                         row.updated, max(unchanged, 0), row.failed, list(row.errors or []), row.message,
                         row.started_at, row.finished_at)


def get_import_run(ctx: EngineContext, run_id: int, *, actor: Actor) -> ImportRunView:
    """A run's progress and error report. Raises NotFoundError, PermissionDeniedError."""
    require_role(actor, "supervisor")
    with unit_of_work(ctx.sessions, write=False) as session:
        row = session.get(CustomerImportRun, run_id)
        if row is None:
            raise NotFoundError(f"no import run {run_id}")
        return _view(row)


def create_import_run(ctx: EngineContext, source_name: str, fmt: str, *, actor: Actor) -> int:
    """A new run in status ``running`` (the web page shows it while a thread imports). Supervisors only."""
    require_role(actor, "supervisor")
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}")
    with unit_of_work(ctx.sessions) as session:
        row = CustomerImportRun(source=source_name[:64] or "upload", format=fmt, actor=actor.username,
                                status="running", total=0, processed=0, created=0, updated=0, failed=0, errors=[],
                                started_at=ctx.clock.now())
        session.add(row)
        session.flush()
        return int(row.id)


def start_import(ctx: EngineContext, source_name: str, fmt: str, rows_iter_or_bytes: bytes | Iterable[Mapping[str, Any]],
                 actor: Actor, *, accounts: bytes | None = None, holdings: bytes | None = None,
                 on_progress: Callable[[ImportRunView], None] | None = None) -> ImportRunView:
    """Import customers now (one transaction per record) and return the finished run.

    Raises PermissionDeniedError (supervisors and admins import), InvalidInputError (unknown format).
    Bad records do not raise: they are in the run's ``errors``.
    """
    run_id = create_import_run(ctx, source_name, fmt, actor=actor)
    return run_import(ctx, run_id, fmt, rows_iter_or_bytes, actor=actor, accounts=accounts, holdings=holdings,
                      on_progress=on_progress)


def run_import(ctx: EngineContext, run_id: int, fmt: str, content: bytes | Iterable[Mapping[str, Any]], *, actor: Actor,
               accounts: bytes | None = None, holdings: bytes | None = None,
               on_progress: Callable[[ImportRunView], None] | None = None) -> ImportRunView:
    """Import into an existing run (see :func:`create_import_run`); marks it ``failed`` on an unreadable file."""
    require_role(actor, "supervisor")
    try:
        records, problems = parse_records(fmt, content, accounts=accounts, holdings=holdings)
    except Exception as exc:  # noqa: BLE001 - an adapter failing mid-feed fails the run, with the reason
        return _finish(ctx, run_id, "failed", f"{type(exc).__name__}: {exc}", actor)
    if not records and problems:
        _record_failures(ctx, run_id, problems, count=False)
        return _finish(ctx, run_id, "failed", problems[0]["message_en"], actor)
    with unit_of_work(ctx.sessions) as session:
        run = _run(session, run_id)
        run.total = len(records)
        run.errors = list(problems)  # orphan account/holding lines: reported, not counted as customer rows
        products = set(session.scalars(select(Product.code)))
    today = ctx.clock.now().astimezone(ctx.settings.zone).date()
    first_row: dict[str, int] = {}
    for n, record in records:
        view: ImportRunView | None = None
        data, errors = validate_record(n, record, products, today)
        if data is not None and data["id"] in first_row:
            cid = data["id"]
            data, errors = None, [row_error(n, cid, "id", "duplicate_id", first=first_row[cid])]
        if data is not None:
            first_row[data["id"]] = n
            try:
                view = _import_one(ctx, run_id, n, data, actor)
            except _RowRejectedError as exc:
                errors = exc.errors
        if errors:
            view = _record_failures(ctx, run_id, errors)
        if on_progress is not None and view is not None:
            on_progress(view)
    return _finish(ctx, run_id, "done", None, actor)


def _run(session: Session, run_id: int) -> CustomerImportRun:
    run = session.get(CustomerImportRun, run_id)
    if run is None:
        raise NotFoundError(f"no import run {run_id}")
    return run


def _record_failures(ctx: EngineContext, run_id: int, errors: list[dict[str, Any]], *, count: bool = True) -> ImportRunView:
    with unit_of_work(ctx.sessions) as session:
        run = _run(session, run_id)
        run.errors = [*run.errors, *errors]  # a new list: JSON columns track assignment, not mutation
        if count:
            run.processed += 1
            run.failed += 1
        return _view(run)


def fail_import_run(ctx: EngineContext, run_id: int, message: str, *, actor: Actor) -> ImportRunView:
    """Mark a run failed with the reason (e.g. its background thread died); counters stay as they were."""
    return _finish(ctx, run_id, "failed", message[:1000], actor)


def _finish(ctx: EngineContext, run_id: int, status: str, message: str | None, actor: Actor) -> ImportRunView:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        run = _run(session, run_id)
        run.status, run.message, run.finished_at = status, message, now
        view = _view(run)
        audit.append(session, stream=f"import:{run_id}", actor=actor.username, action=f"customer_import.{status}",
                     subject_type="customer_import", subject_id=str(run_id), at=now,
                     after={"source": run.source, "total": view.total, "created": view.created, "updated": view.updated,
                            "unchanged": view.unchanged, "failed": view.failed})
    return view


class _RowRejectedError(Exception):
    """A record that passed validation but conflicts with stored data; its transaction is rolled back."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("rejected")
        self.errors = errors


def _import_one(ctx: EngineContext, run_id: int, row: int, data: dict[str, Any], actor: Actor) -> ImportRunView:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        external_ids = [a["external_id"] for a in data.get("accounts") or []]
        if external_ids and session.scalar(select(CustomerAccount.id).where(
                CustomerAccount.external_id.in_(external_ids), CustomerAccount.customer_id != data["id"]).limit(1)):
            raise _RowRejectedError([row_error(row, data["id"], "accounts", "account_taken")])
        customer = session.get(Customer, data["id"])
        if customer is not None and customer.status == CustomerStatus.ERASED.value:
            raise _RowRejectedError([row_error(row, data["id"], "id", "erased")])  # docs/personal-data.md
        created = customer is None
        if customer is None:
            customer = _new_customer(ctx, session, data)
            changed: list[str] = []
        else:
            changed = _update_profile(ctx, customer, data)
        consent_events = _sync_consents(session, customer.id, data.get("consents"), now)
        changed += ["consents"] if consent_events else []
        changed += _sync_accounts(session, customer.id, data.get("accounts"), now)
        changed += _sync_holdings(session, customer.id, data.get("holdings"))
        changed += _sync_risk(ctx, session, customer, data, actor)
        changed += _sync_aum_and_tier(session, customer, data, created, now, actor)
        run = _run(session, run_id)
        run.processed += 1
        head: str | None = None
        if created:
            run.created += 1
            head = audit.append(session, stream=f"customer:{customer.id}", actor=actor.username,
                                action="customer.created", subject_type="customer", subject_id=customer.id, at=now,
                                after={"source": "import", "run": run_id, "row": row, "tier": customer.tier,
                                       "lunar_birthday": customer.birthday_calendar == "lunar"})
        elif changed:
            run.updated += 1
            customer.updated_at = now
            head = audit.append(session, stream=f"customer:{customer.id}", actor=actor.username,
                                action="customer.updated", subject_type="customer", subject_id=customer.id, at=now,
                                after={"source": "import", "run": run_id, "row": row, "fields": sorted(set(changed))})
        for before, after in consent_events:  # chained by hand: the session does not autoflush
            head = audit.append(session, stream=f"customer:{customer.id}", actor=actor.username, action="consent.changed",
                                subject_type="customer", subject_id=customer.id, at=now, before=before,
                                after=after | {"run": run_id}, prev_hash=head)
        return _view(run)


def _new_customer(ctx: EngineContext, session: Session, data: dict[str, Any]) -> Customer:
    names = ("id", "name", "gender", "birth_date", "lunar_birthday", "branch", "manager", "phone", "email", "id_number",
             "language", "preferred_channel")
    fields_in = {k: data[k] for k in names if data.get(k) is not None}
    customer = customer_row(ctx, CustomerInput(**fields_in, tier=data.get("tier") or "mass"))
    customer.customer_since = min((a["opened_on"] for a in data.get("accounts") or [] if a.get("opened_on")),
                                  default=None)
    session.add(customer)
    session.flush()  # the accounts, holdings and consents below refer to it
    return customer


def _update_profile(ctx: EngineContext, customer: Customer, data: dict[str, Any]) -> list[str]:
    changed: list[str] = []
    for name in ("name", "gender", "branch", "manager", "language", "preferred_channel"):
        if name in data and getattr(customer, name) != data[name]:
            setattr(customer, name, data[name])
            changed.append(name)
    if "birth_date" in data or "lunar_birthday" in data:
        born = data.get("birth_date", customer.birth_date)
        wants_lunar = data.get("lunar_birthday", customer.birthday_calendar == "lunar")
        lunar = LunarBirthday.from_solar(born) if born and wants_lunar else None
        wanted = (born, "lunar" if lunar else "solar", born.strftime("%m-%d") if born else None,
                  lunar.month if lunar else None, lunar.day if lunar else None, bool(lunar and lunar.leap))
        current = (customer.birth_date, customer.birthday_calendar, customer.birthday_md, customer.lunar_month,
                   customer.lunar_day, customer.lunar_leap)
        if wanted != current:
            (customer.birth_date, customer.birthday_calendar, customer.birthday_md, customer.lunar_month,
             customer.lunar_day, customer.lunar_leap) = wanted
            changed.append("birthday")
    cipher = ctx.cipher
    for name, index_column in (("phone", "phone_index"), ("id_number", "id_number_index")):
        if name in data and getattr(customer, index_column) != cipher.index(data[name]):
            setattr(customer, f"{name}_enc", cipher.encrypt(data[name], customer_field(name, customer.id)))
            setattr(customer, index_column, cipher.index(data[name]))
            changed.append(name)
    email = customer_field("email", customer.id)
    if "email" in data and cipher.decrypt(customer.email_enc, email) != (data["email"] or None):
        customer.email_enc = cipher.encrypt(data["email"], email)
        changed.append("email")
    return changed


def _sync_consents(session: Session, customer_id: str, consents: list[dict[str, Any]] | None,
                   now: datetime) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Apply the consents; (before, after) of each change for the audit (docs/domain.md §3.4: every consent change)."""
    events: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []
    for item in consents or []:
        row = session.get(Consent, (customer_id, item["channel"], item["purpose"]))
        if row is not None and row.granted == item["granted"]:
            continue
        before = None if row is None else {"granted": row.granted}
        if row is None:
            row = Consent(customer_id=customer_id, channel=item["channel"], purpose=item["purpose"],
                          granted=item["granted"], source="import", updated_at=now)
            session.add(row)
        row.granted, row.source, row.updated_at = item["granted"], "import", now
        events.append((before, {"channel": item["channel"], "purpose": item["purpose"], "granted": item["granted"],
                                "source": "import"}))
    return events


def _sync_accounts(session: Session, customer_id: str, accounts: list[dict[str, Any]] | None, now: datetime) -> list[str]:
    if accounts is None:
        return []
    stored = {a.external_id: a for a in session.scalars(select(CustomerAccount).where(
        CustomerAccount.customer_id == customer_id))}
    changed = False
    for item in accounts:
        row = stored.pop(item["external_id"], None)
        wanted = {"kind": item["kind"], "number_last4": item["last4"], "currency": item["currency"],
                  "balance": item["balance"], "avg_daily_balance": item["avg_daily_balance"],
                  "opened_on": item["opened_on"], "status": "open"}
        if row is None:
            session.add(CustomerAccount(customer_id=customer_id, external_id=item["external_id"], updated_at=now, **wanted))
            changed = True
        elif any(getattr(row, k) != v for k, v in wanted.items()):
            for k, v in wanted.items():
                setattr(row, k, v)
            row.updated_at, changed = now, True
    for row in stored.values():  # not in core banking's current set any more
        if row.status != "closed":
            row.status, row.updated_at, changed = "closed", now, True
    session.flush()  # an external id owned by another customer fails here, inside this row's transaction
    return ["accounts"] if changed else []


def _sync_holdings(session: Session, customer_id: str, holdings: list[dict[str, Any]] | None) -> list[str]:
    if holdings is None:
        return []
    stored = {(h.product_code, h.bought_on): h for h in session.scalars(select(CustomerHolding).where(
        CustomerHolding.customer_id == customer_id, CustomerHolding.source == "import"))}
    changed = False
    for item in holdings:
        row = stored.pop((item["product_code"], item["bought_on"]), None)
        if row is None:
            session.add(CustomerHolding(customer_id=customer_id, product_code=item["product_code"], amount=item["amount"],
                                        bought_on=item["bought_on"], matures_on=item["matures_on"], status="held",
                                        source="import"))
            changed = True
        elif (row.amount, row.matures_on, row.status) != (item["amount"], item["matures_on"], "held"):
            row.amount, row.matures_on, row.status, changed = item["amount"], item["matures_on"], "held", True
    for row in stored.values():
        if row.status == "held":
            row.status, changed = "redeemed", True
    return ["holdings"] if changed else []


def _sync_risk(ctx: EngineContext, session: Session, customer: Customer, data: dict[str, Any], actor: Actor) -> list[str]:
    level, assessed = data.get("risk_level"), data.get("risk_assessed_at")
    if level is None or assessed is None:
        return []
    at = as_utc(datetime.combine(assessed, time(0, 0), tzinfo=ctx.settings.zone))
    exists = session.scalar(select(RiskAssessment.id).where(
        RiskAssessment.customer_id == customer.id, RiskAssessment.assessed_at == at, RiskAssessment.level == level))
    if exists is not None:
        return []
    valid_until = assessed + relativedelta(months=RISK_VALID_MONTHS)
    session.add(RiskAssessment(customer_id=customer.id, level=level, score=None, questionnaire_version="core-banking",
                               assessed_at=at, valid_until=valid_until, assessed_by=f"import:{actor.username}"))
    latest = session.scalar(select(RiskAssessment.assessed_at).where(RiskAssessment.customer_id == customer.id)
                            .order_by(RiskAssessment.assessed_at.desc()).limit(1))
    if latest is None or at >= latest:
        customer.risk_level, customer.risk_valid_until = level, valid_until
    return ["risk"]


def _sync_aum_and_tier(session: Session, customer: Customer, data: dict[str, Any], created: bool, now: datetime,
                       actor: Actor) -> list[str]:
    changed = []
    if data.get("accounts") is not None:
        session.flush()
        balances = session.execute(select(CustomerAccount.kind, CustomerAccount.avg_daily_balance).where(
            CustomerAccount.customer_id == customer.id, CustomerAccount.status != "closed")).all()
        aum = sum((b for kind, b in balances if kind not in NO_AUM_KINDS), Decimal("0")).quantize(Decimal("0.01"))
        if customer.aum is None or Decimal(customer.aum) != aum:
            customer.aum = aum
            changed += [] if created else ["aum"]
    tier = data.get("tier")
    if created or (tier and tier != customer.tier):
        previous = None if created else customer.tier
        customer.tier = tier or customer.tier
        session.add(TierChange(customer_id=customer.id, tier=customer.tier, previous_tier=previous,
                               aum=customer.aum or Decimal("0"), reason="import", actor=actor.username, changed_at=now))
        if not created:
            changed.append("tier")
    return changed
