"""The daily care scans: birthdays, holidays and revisits due, each one short instance per customer and occasion.

A scan looks at one bank-local day. It finds its customers through indexed columns (solar
birthdays by "MM-DD", lunar ones by lunar month and day, revisits by due date), checks each with
:mod:`engine.rules.care_dates`, and starts instances in batches with an idempotent business key
(``birthday:<customer>:<date>``, ``holiday:<occasion>:<year>:<customer>``,
``revisit:<customer>:<due date>``), so a rerun or a second scheduler starts nothing twice.
Consent, do-not-disturb and the contact window are not checked here: the greeting instance
starts and its message is suppressed or held by the outbox policy at send time, which keeps
"refused by consent" visible in care coverage instead of silently absent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from dateutil.relativedelta import relativedelta
from lunardate import LunarDate
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.care import waves
from engine.care.models import CareScanRun
from engine.care.waves import Span
from engine.context import EngineContext
from engine.customers.models import Customer, CustomerStatus
from engine.customers.tier_rules import revisit_frequency
from engine.db.models import ProcessDefinition
from engine.db.session import unit_of_work
from engine.rules.care_dates import BirthdayRule, CareOccasion, LunarBirthday, age_on, birthdays_between, occasions_on
from engine.services.instances import StartRequest, start_instances
from engine.views import SYSTEM

log = logging.getLogger(__name__)

BIRTHDAY_PROCESS, HOLIDAY_PROCESS, REVISIT_PROCESS = "birthday_care", "holiday_care", "periodic_revisit"
WISHES = {
    "new_year": ("新年快乐", "a happy New Year"),
    "spring_festival": ("新春快乐，阖家幸福", "a happy Spring Festival"),
    "lantern": ("元宵快乐，团圆美满", "a happy Lantern Festival"),
    "dragon_boat": ("端午安康", "a healthy Dragon Boat Festival"),
    "mid_autumn": ("中秋快乐，月圆人圆", "a happy Mid-Autumn Festival"),
    "national_day": ("国庆快乐", "a happy National Day"),
    "double_ninth": ("重阳安康，福寿绵长", "good health this Double Ninth Festival"),
}


@dataclass(frozen=True)
class ScanResult:
    job: str
    day: date
    started: int
    skipped: int
    ran: bool = True  # False: another scheduler already ran (or runs) this scan
    queued: int = 0  # chunks handed to ``careflow worker`` (engine.care.waves); the counts come when they are done


def run_daily_scans(ctx: EngineContext, day: date | None = None, *, force: bool = False) -> dict[str, ScanResult]:
    """Run the day's scans for ``day`` (default: today in the bank's zone). Safe to repeat.

    Care (birthdays, holidays, revisits due) every day; leads for maturing products and risk
    re-assessments due every day, once their processes are deployed; the business calendar checked for next year's
    table (engine.services.calendar.check_coverage) every day; tiers recomputed on the first
    of the month (the monthly average daily balance, 月日均, changes monthly); once a first prediction model was
    trained, models retrained on the first and customers scored and acted on each Monday. One failing scan does
    not stop the others; the first failure is raised after all have run.
    """
    from engine.customers.tiering import recompute_tiers
    from engine.onboarding.service import scan_risk_reassessments
    from engine.prediction.service import scheduled_jobs as prediction_jobs
    from engine.sales.service import scan_maturity_leads
    from engine.services.calendar import check_coverage

    day = day or ctx.clock.now().astimezone(ctx.settings.zone).date()
    jobs: list[tuple[str, Callable[[EngineContext, date], tuple[int, int]]]] = [
        ("birthday", scan_birthdays), ("holiday", scan_holidays), ("revisit", scan_revisits),
        ("calendar_check", check_coverage)]
    if _deployed(ctx, "cross_sell_followup"):
        jobs.append(("maturity_leads", lambda c, d: _counts(scan_maturity_leads(c, d))))
    if _deployed(ctx, "periodic_revisit"):
        jobs.append(("risk_reassess", lambda c, d: _counts(scan_risk_reassessments(c, d))))
        if day.day == 1:
            jobs.append(("tier_recompute", lambda c, d: _tier_counts(recompute_tiers(c, d))))
        if _deployed(ctx, "cross_sell_followup"):  # retrain monthly, score and act weekly (engine.prediction.service)
            jobs.extend(prediction_jobs(ctx, day))
    if day.day == 1:  # the month's AUM snapshot for the scorecards (engine.reporting.snapshot)
        from engine.reporting.snapshot import take_aum_snapshot

        jobs.append(("aum_snapshot", lambda c, d: (take_aum_snapshot(c, d).customers, 0)))
    results: dict[str, ScanResult] = {}
    failure: Exception | None = None
    for job, scan in jobs:
        try:
            results[job] = _run_once(ctx, job, day, scan, force=force)
        except Exception as exc:  # noqa: BLE001 - recorded as failed by _run_once; the next scans still run
            failure = failure or exc
    if failure is not None:
        raise failure
    return results


def run_scan(ctx: EngineContext, job: str, day: date, *, force: bool = False) -> ScanResult:
    """One care scan (birthday, holiday, revisit) for ``day`` under the (job, day) claim: a wave on the queue where
    ``settings.waves`` says so (engine.care.waves), else here (``careflow wave run``)."""
    scan = WAVE_SCANS[job]
    return _run_once(ctx, job, day, lambda c, d: scan(c, d, None), force=force)


def _deployed(ctx: EngineContext, key: str) -> bool:
    with unit_of_work(ctx.sessions, write=False) as session:
        return session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.key == key).limit(1)) is not None


def _counts(result: Any) -> tuple[int, int]:
    return int(result.started), int(result.skipped)


def _tier_counts(result: Any) -> tuple[int, int]:
    changed = int(result.upgraded) + int(result.downgraded)
    return changed, int(result.customers) - changed


def _run_once(ctx: EngineContext, job: str, day: date, scan: Callable[[EngineContext, date], tuple[int, int]],
              *, force: bool) -> ScanResult:
    """Claim (job, day) so that two schedulers do not both scan; a failed or forced run goes again."""
    now = ctx.clock.now()
    try:
        with unit_of_work(ctx.sessions) as session:
            run = session.get(CareScanRun, (job, day))
            if run is not None and run.status != "failed" and not force:
                return ScanResult(job, day, 0, 0, ran=False)
            if run is None:
                session.add(CareScanRun(job=job, day=day, status="running", started=0, skipped=0, started_at=now))
            else:
                run.status, run.started_at, run.error = "running", now, None
    except IntegrityError:
        return ScanResult(job, day, 0, 0, ran=False)
    if job in WAVE_SCANS and waves.use_queue(ctx):
        try:
            queued = waves.start_wave(ctx, job, day, scan_where(ctx, job, day), force=force)
        except Exception as exc:
            _close(ctx, job, day, "failed", 0, 0, error=f"{type(exc).__name__}: {exc}")
            log.exception("care scan %s for %s could not be queued", job, day)
            raise
        if queued:
            return ScanResult(job, day, 0, 0, queued=queued)
        started, skipped = waves.totals(ctx, job, day)  # every chunk was done already (a rerun after a failure)
        _close(ctx, job, day, "done", started, skipped)
        return ScanResult(job, day, started, skipped)
    try:
        started, skipped = scan(ctx, day)
    except Exception as exc:
        _close(ctx, job, day, "failed", 0, 0, error=f"{type(exc).__name__}: {exc}")
        log.exception("care scan %s for %s failed", job, day)
        raise
    _close(ctx, job, day, "done", started, skipped)
    return ScanResult(job, day, started, skipped)


def _close(ctx: EngineContext, job: str, day: date, status: str, started: int, skipped: int,
           error: str | None = None) -> None:
    with unit_of_work(ctx.sessions) as session:
        run = session.get(CareScanRun, (job, day))
        if run is not None:
            run.status, run.started, run.skipped = status, started, skipped
            run.finished_at, run.error = ctx.clock.now(), error


def _customers(ctx: EngineContext, where: ColumnElement[bool], span: Span | None = None) -> Iterator[list[Customer]]:
    """Active customers matching ``where`` (within ``span``), in id order, one batch per read transaction (keyset
    paging)."""
    last = span.lo if span is not None and span.lo is not None else ""
    upto = [Customer.id <= span.hi] if span is not None and span.hi is not None else []
    while True:
        with unit_of_work(ctx.sessions, write=False) as session:
            batch = list(session.scalars(
                select(Customer).where(where, Customer.status == CustomerStatus.ACTIVE.value, Customer.id > last,
                                       *upto)
                .order_by(Customer.id).limit(ctx.settings.care.batch_size)))
        if not batch:
            return
        yield batch
        last = batch[-1].id


def _start(ctx: EngineContext, process_key: str, requests: list[StartRequest],
           on_started: Callable[[Session, StartRequest], None] | None = None, *, span: Span | None = None,
           last: str = "") -> tuple[int, int]:
    if not requests:
        return 0, 0
    progress = span.progress if span is not None else None
    on_stored = None if progress is None else (
        lambda session, done: progress(session, last, len(done.started), len(done.skipped)))
    result = start_instances(ctx, process_key=process_key, requests=requests, actor=SYSTEM, on_started=on_started,
                             on_stored=on_stored)
    return len(result.started), len(result.skipped)


def birthday_filter(day: date, leap_day_rule: str) -> ColumnElement[bool]:
    """Index pre-filter for customers whose birthday may fall on ``day``; exact check follows in Python."""
    solar_days = [day.strftime("%m-%d")]
    common_year = not (day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0))
    if common_year and day.strftime("%m-%d") == ("02-28" if leap_day_rule == "feb28" else "03-01"):
        solar_days.append("02-29")
    clauses = [and_(Customer.birthday_calendar == "solar", Customer.birthday_md.in_(solar_days))]
    lunar = LunarDate.from_solar_date(day.year, day.month, day.day)
    if not lunar.is_leap_month:  # leap-month births celebrate in the ordinary month (docs/domain.md §5.4)
        lunar_days = [lunar.day] + ([30] if lunar.day == 29 else [])
        clauses.append(and_(Customer.birthday_calendar == "lunar", Customer.lunar_month == lunar.month,
                            Customer.lunar_day.in_(lunar_days)))
    return or_(*clauses)


def is_birthday(customer: Customer, day: date, leap_day_rule: str) -> bool:
    if customer.birth_date is None:
        return False
    rule = cast(BirthdayRule, leap_day_rule)  # validated in Settings: "feb28" or "mar1"
    if customer.birthday_calendar == "lunar" and customer.lunar_month and customer.lunar_day:
        lunar = LunarBirthday(customer.lunar_month, customer.lunar_day, customer.lunar_leap)
        return bool(birthdays_between(day, day, lunar=lunar, leap_day_rule=rule))
    return bool(birthdays_between(day, day, solar=customer.birth_date, leap_day_rule=rule))


def scan_where(ctx: EngineContext, job: str, day: date) -> ColumnElement[bool]:
    """The index pre-filter of scan ``job`` (birthday, holiday, revisit): where a wave's chunks are cut."""
    if job == "birthday":
        return birthday_filter(day, ctx.settings.care.leap_day_birthday)
    if job == "revisit":
        return and_(Customer.next_revisit_on.is_not(None), Customer.next_revisit_on <= day)
    return Customer.id.is_not(None)


def scan_birthdays(ctx: EngineContext, day: date, span: Span | None = None) -> tuple[int, int]:
    started = skipped = 0
    rule = ctx.settings.care.leap_day_birthday
    for batch in _customers(ctx, scan_where(ctx, "birthday", day), span):
        requests = [StartRequest(f"birthday:{c.id}:{day.isoformat()}", c.id, _care_variables(c, "birthday"))
                    for c in batch if is_birthday(c, day, rule)]
        counts = _start(ctx, BIRTHDAY_PROCESS, requests, span=span, last=batch[-1].id)
        started, skipped = started + counts[0], skipped + counts[1]
    return started, skipped


def scan_holidays(ctx: EngineContext, day: date, span: Span | None = None) -> tuple[int, int]:
    """Every occasion of ``day`` (two may coincide: Mid-Autumn on National Day) for each batch of customers."""
    started = skipped = 0
    occasions = occasions_on(day)
    if not occasions:
        return 0, 0
    for batch in _customers(ctx, scan_where(ctx, "holiday", day), span):
        requests = [StartRequest(f"holiday:{occasion.key}:{day.year}:{c.id}", c.id, _holiday_variables(c, occasion))
                    for occasion in occasions for c in batch if _eligible(c, occasion, day)]
        counts = _start(ctx, HOLIDAY_PROCESS, requests, span=span, last=batch[-1].id)
        started, skipped = started + counts[0], skipped + counts[1]
    return started, skipped


def _eligible(customer: Customer, occasion: CareOccasion, day: date) -> bool:
    if occasion.min_age is None:
        return True
    return customer.birth_date is not None and age_on(customer.birth_date, day) >= occasion.min_age


def scan_revisits(ctx: EngineContext, day: date, span: Span | None = None) -> tuple[int, int]:
    """Start a revisit for every customer due on or before ``day`` and move their next due date on."""
    started = skipped = 0
    for batch in _customers(ctx, scan_where(ctx, "revisit", day), span):
        requests = [StartRequest(f"revisit:{c.id}:{c.next_revisit_on}", c.id,
                                 {**_care_variables(c, "revisit"), "due_on": str(c.next_revisit_on)}) for c in batch]
        counts = _start(ctx, REVISIT_PROCESS, requests, on_started=lambda s, r: _advance_revisit(s, r, day), span=span,
                        last=batch[-1].id)
        started, skipped = started + counts[0], skipped + counts[1]
        if counts[1]:  # already started by an earlier run: only the due date still needs moving on
            _advance_skipped(ctx, [r for r in requests if r.customer_id], day)
    return started, skipped


def next_revisit(due: date, tier: str, today: date) -> date:
    """The next due date after ``today``, stepping from the old one by the tier's interval.

    The interval is docs/domain.md §4.3's table in :data:`engine.customers.tier_rules.REVISIT_FREQUENCY`, the rows
    of the ``revisit_frequency`` DMN; the revisit process resets the date from its outcome's day.
    """
    step = relativedelta(months=revisit_frequency(tier).months)
    nxt = due + step
    while nxt <= today:
        nxt += step
    return nxt


def _advance_revisit(session: Session, request: StartRequest, today: date) -> None:
    customer = session.get(Customer, request.customer_id)
    if customer is not None and customer.next_revisit_on is not None:
        customer.next_revisit_on = next_revisit(customer.next_revisit_on, customer.tier, today)


def _advance_skipped(ctx: EngineContext, requests: list[StartRequest], today: date) -> None:
    with unit_of_work(ctx.sessions) as session:
        for request in requests:
            customer = session.get(Customer, request.customer_id)
            if customer is not None and customer.next_revisit_on is not None and customer.next_revisit_on <= today:
                customer.next_revisit_on = next_revisit(customer.next_revisit_on, customer.tier, today)


def _care_variables(customer: Customer, occasion: str) -> dict[str, Any]:
    return {"customer_id": customer.id, "occasion": occasion, "tier": customer.tier, "manager": customer.manager}


def _holiday_variables(customer: Customer, occasion: CareOccasion) -> dict[str, Any]:
    wish_zh, wish_en = WISHES.get(occasion.key, ("节日快乐", "happy holidays"))
    return {**_care_variables(customer, occasion.key), "occasion_zh": occasion.name_zh, "occasion_en": occasion.name_en,
            "wish_zh": wish_zh, "wish_en": wish_en}



# The scans a wave can cut into chunks (engine.care.waves runs a chunk with one of these and its Span).
WAVE_SCANS: dict[str, Callable[[EngineContext, date, Span | None], tuple[int, int]]] = {
    "birthday": scan_birthdays, "holiday": scan_holidays, "revisit": scan_revisits}
