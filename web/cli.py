"""The ``careflow`` command: the same engine services as the web layer, from a shell."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from engine.bpmn.loader import SourceFile
from engine.clock import FrozenClock
from engine.config import Settings
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.errors import EngineError
from engine.services import approvals as approval_service
from engine.services import definitions, grants, identity, second_factor, sessions
from engine.services.timers import fire_due_timers
from engine.views import ROLES, SYSTEM, Actor
from web.cli_security import audit, keys


def _ctx(clock: Any = None, settings: Settings | None = None) -> EngineContext:
    ctx = build_engine(settings or Settings.from_env(), clock=clock)
    # Close the pool when the command ends, whether it succeeded or not.
    click.get_current_context().call_on_close(ctx.db.dispose)
    return ctx


def _cli_actor() -> Actor:
    return Actor("cli", frozenset({"admin"}))


@click.group()
def main() -> None:
    """CareFlow: BPMN processes for the bank's customer service."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations (creates the SQLite file's folder if needed)."""
    settings = Settings.from_env()
    if settings.is_sqlite and ":///" in settings.database.url:
        Path(settings.database.url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    ctx = _ctx(settings=settings)
    migrate.upgrade(ctx.db, keyring=ctx.cipher.keyring)
    click.echo(f"database at revision {migrate.current(ctx.db)}")
    from engine.services import search as search_service

    if search_service.index_missing(ctx):  # the search index arrived with this upgrade: fill it from what is stored
        documents, tokens = search_service.reindex(ctx, actor=_cli_actor())
        click.echo(f"search index built: {documents} customers and cases ({tokens} tokens)")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--process-key", default=None, help="Process id to deploy when the files define several.")
@click.option("--validate-only", is_flag=True, help="Check the files without storing anything.")
def deploy(files: tuple[Path, ...], process_key: str | None, validate_only: bool) -> None:
    """Deploy BPMN/DMN/form files as the next version of their process."""
    sources = [SourceFile(p.name, p.read_bytes()) for p in files]
    result = definitions.deploy_definition(_ctx(), files=sources, actor=_cli_actor(), process_key=process_key,
                                           validate_only=validate_only)
    if result is None:
        click.echo("valid")
    elif result.approval_id is not None:
        click.echo(f"waiting for approval #{result.approval_id}: {result.definition.key} has live instances, so a second "
                   f"person approves the new version (/approvals, or careflow approvals approve "
                   f"{result.approval_id} --as NAME)")
    elif result.created:
        click.echo(f"deployed {result.definition.key} v{result.definition.version}")
    else:
        click.echo(f"unchanged {result.definition.key} v{result.definition.version}")


@main.group()
def user() -> None:
    """Users and their roles."""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES))
@click.option("--group", "groups", multiple=True)
@click.option("--display-name", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(name: str, roles: tuple[str, ...], groups: tuple[str, ...], display_name: str | None,
             password_stdin: bool) -> None:
    """Create a user."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    view = identity.create_user(_ctx(), username=name, roles=roles, groups=groups, password=password,
                                display_name=display_name, actor="cli")
    click.echo(f"created {view.username} ({', '.join(view.roles)})")


@user.command("update")
@click.argument("name")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help="Replaces the roles.")
@click.option("--group", "groups", multiple=True, help="Replaces the groups.")
@click.option("--skill", "skills", multiple=True, help="Replaces the skills (skills-based routing).")
@click.option("--deactivate", is_flag=True)
def user_update(name: str, roles: tuple[str, ...], groups: tuple[str, ...], skills: tuple[str, ...],
                deactivate: bool) -> None:
    """Change a user's roles, groups or skills, or deactivate them (audited)."""
    view = identity.update_user(_ctx(), name, actor=_cli_actor(), roles=roles or None, groups=groups or None,
                                skills=skills or None, active=False if deactivate else None)
    click.echo(f"{view.username}: roles {', '.join(view.roles)}; groups {', '.join(view.groups) or '-'}; "
               f"skills {', '.join(view.skills) or '-'}; {'active' if view.active else 'inactive'}")


@user.command("absent")
@click.argument("name")
@click.option("--until", "until_text", default=None, help="Last day away, YYYY-MM-DD (bank time); omit to clear.")
def user_absent(name: str, until_text: str | None) -> None:
    """Record an absence: no new work is routed to NAME, and their claimed tasks go back to the queue."""
    from datetime import time

    ctx = _ctx()
    until = datetime.combine(datetime.fromisoformat(until_text).date(), time(23, 59), tzinfo=ctx.settings.zone) \
        if until_text else None
    moved = identity.set_absence(ctx, name, until=until, actor=_cli_actor())
    click.echo(f"{name}: absent until {until_text or '-'}; {moved} tasks back in the queue")


@user.command("lock")
@click.argument("name")
def user_lock(name: str) -> None:
    """Lock NAME's account: their sessions end now, their password and API tokens are refused until unlocked."""
    identity.lock_user(_ctx(), name, actor=_cli_actor())
    click.echo(f"{name}: locked")


@user.command("unlock")
@click.argument("name")
def user_unlock(name: str) -> None:
    """Lift a lock on NAME's account and clear its count of wrong passwords."""
    identity.unlock_user(_ctx(), name, actor=_cli_actor())
    click.echo(f"{name}: unlocked")


@user.command("reset-2fa")
@click.argument("name")
def user_reset_second_factor(name: str) -> None:
    """Switch NAME's second factor off (a lost phone); they enrol again from /account/second-factor."""
    second_factor.reset(_ctx(), name, actor=_cli_actor())
    click.echo(f"{name}: second factor off")


@main.group("sessions")
def sessions_group() -> None:
    """Signed-in browser sessions (server-side)."""


@sessions_group.command("purge")
def sessions_purge() -> None:
    """Delete expired and idle sessions and day-old wrong-password counts (sign-ins do this as they go)."""
    click.echo(f"purged {sessions.purge_expired(_ctx())}")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke every API token of user NAME."""
    click.echo(f"revoked {identity.revoke_tokens(_ctx(), name, actor=_cli_actor())}")


@token.command("create")
@click.argument("name")
@click.option("--label", default="cli", help="What the token is for.")
def token_create(name: str, label: str) -> None:
    """Create an API token for user NAME and print it (shown once); when it expires goes to standard error."""
    issued = identity.issue_token(_ctx(), username=name, name=label, actor="cli")
    click.echo(issued.token)
    click.echo(f"expires {issued.expires_at.isoformat(timespec='seconds')}", err=True)


@main.group()
def grant() -> None:
    """Grants: who may do what to which process, instance, message or customer (engine.authz)."""


@grant.command("list")
def grant_list() -> None:
    """Every grant, one a line: id, principal, resource, permission, who granted and approved it."""
    for g in grants.list_grants(_ctx(), actor=SYSTEM):
        approved = f" approved by {g.approved_by}" if g.approved_by else ""
        click.echo(f"{g.id}\t{g.principal}\t{g.resource_kind}:{g.resource_id}\t{g.permission}\t{g.granted_by}{approved}")


@grant.command("add")
@click.argument("principal")
@click.argument("resource_kind")
@click.argument("resource_id")
@click.argument("permission")
def grant_add(principal: str, resource_kind: str, resource_id: str, permission: str) -> None:
    """Add a grant at once, from the server's command line (break-glass: audited as the command line; on the web
    and API a grant needs a second administrator)."""
    spec = grants.parse(principal, resource_kind, resource_id, permission)
    added = grants.add_grant(_ctx(), spec, by="cli", approved_by="cli")
    click.echo(f"{'granted' if added else 'already granted'}: {principal} {permission} on {resource_kind} {resource_id}")


@grant.command("revoke")
@click.argument("grant_id", type=int)
def grant_revoke(grant_id: int) -> None:
    """Revoke a grant (takes effect at once here, within seconds on other servers)."""
    view = grants.revoke_grant(_ctx(), grant_id, actor=None, by="cli")
    click.echo(f"revoked: {view.principal} {view.permission} on {view.resource_kind} {view.resource_id}")


@main.group()
def approvals() -> None:
    """Changes waiting for a second person (maker-checker)."""


@approvals.command("list")
@click.option("--status", default="pending", type=click.Choice(["pending", "approved", "rejected", "failed", "all"]))
def approvals_list(status: str) -> None:
    """The requests, newest first: id, kind, subject, who asked, status, summary."""
    views = approval_service.list_approvals(_ctx(), actor=SYSTEM, status=None if status == "all" else status)
    for v in views:
        click.echo(f"{v.id}\t{v.kind}\t{v.subject}\t{v.requested_by}\t{v.status}\t{v.summary}")


@approvals.command("approve")
@click.argument("approval_id", type=int)
@click.option("--as", "as_user", required=True, help="The second person, who must hold the permission to decide.")
def approvals_approve(approval_id: int, as_user: str) -> None:
    """Approve and carry out request APPROVAL_ID as user --as (never the one who asked)."""
    ctx = _ctx()
    view = approval_service.approve(ctx, approval_id, actor=identity.get_actor(ctx, as_user))
    click.echo(f"approved #{view.id} ({view.kind} {view.subject}): {view.result}")


@approvals.command("reject")
@click.argument("approval_id", type=int)
@click.option("--as", "as_user", required=True)
@click.option("--reason", required=True)
def approvals_reject(approval_id: int, as_user: str, reason: str) -> None:
    """Reject request APPROVAL_ID as user --as, with the reason."""
    ctx = _ctx()
    view = approval_service.reject(ctx, approval_id, actor=identity.get_actor(ctx, as_user), reason=reason)
    click.echo(f"rejected #{view.id} ({view.kind} {view.subject})")


@main.group()
def timers() -> None:
    """Timers."""


@timers.command("fire")
@click.option("--now", "now_text", default=None, help="ISO time to fire at (needs CAREFLOW_ALLOW_CLOCK_OVERRIDE=1).")
def timers_fire(now_text: str | None) -> None:
    """Fire every timer due now (or at --now)."""
    settings = Settings.from_env()
    clock = None
    if now_text:
        if not settings.core.allow_clock_override:
            raise click.UsageError("--now needs CAREFLOW_ALLOW_CLOCK_OVERRIDE=1")
        moment = datetime.fromisoformat(now_text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.zone)
        clock = FrozenClock(moment)
    result = fire_due_timers(_ctx(clock, settings))
    click.echo(json.dumps({"fired": result.fired, "failed": result.failed}))


@main.command()
def scheduler() -> None:
    """Run the scheduler process: timers at their due time, the outbox, SLA breaches, the daily care scans.

    Each sweep is a supervised loop (engine.scheduler.SchedulerRunner): errors are logged and the loop goes on, a
    loop that died is restarted, and a heartbeat row per job tells the web when this process stopped. SIGTERM and
    Ctrl+C stop it cleanly (its heartbeat rows are removed: a planned stop is not reported as a failure)."""
    import logging
    import signal

    from apscheduler.schedulers.background import BackgroundScheduler

    from engine.scheduler import SchedulerRunner
    from web import logsafe

    ctx = _ctx()
    # escaped lines (or JSON objects): no log argument can forge a line
    logsafe.configure(logging.INFO, json_lines=ctx.settings.core.log_format == "json")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry request URLs (tokens)
    from engine.bpmn.limits import cap_process_memory

    cap_process_memory(ctx.settings.core.worker_memory_mb)
    runner = SchedulerRunner(ctx, BackgroundScheduler(timezone="UTC"))
    signal.signal(signal.SIGTERM, lambda *_: runner.stopping.set())
    click.echo(f"scheduler {runner.node} running; Ctrl+C to stop")
    try:
        runner.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()


@main.group()
def outbox() -> None:
    """Outbound messages."""


@outbox.command("dispatch")
def outbox_dispatch() -> None:
    """Send every message that is due now (consent, window and caps are checked at send time)."""
    from dataclasses import asdict

    from engine.outbox.dispatch import dispatch_due

    report = asdict(dispatch_due(_ctx()))
    report.pop("outcomes")
    click.echo(json.dumps(report))


@outbox.command("release")
@click.argument("message_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Release every held message.")
def outbox_release(message_ids: tuple[int, ...], everything: bool) -> None:
    """Send messages a restore held (check the channel's delivery reports first: they may have gone out already)."""
    from engine.services.outbox import release_messages

    if bool(message_ids) == everything:
        raise click.UsageError("name the message ids to release, or --all")
    released = release_messages(_ctx(), None if everything else list(message_ids),
                                actor=Actor("cli", frozenset({"supervisor"})))
    click.echo(f"released {released} message(s)")


@main.group()
def retention() -> None:
    """History time-to-live: archive ended instances past it; legal holds keep them."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be archived; change nothing.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Archive at most this many instances.")
def retention_run(dry_run: bool, limit: int | None) -> None:
    """Archive every ended instance past its process's time-to-live that no hold keeps (audited)."""
    from dataclasses import asdict

    from engine.services import retention as policy

    click.echo(json.dumps(asdict(policy.run(_ctx(), dry_run=dry_run, actor="cli", limit=limit))))


@retention.command("hold")
@click.argument("subject_type", type=click.Choice(["instance", "customer", "process"]))
@click.argument("subject_id")
@click.option("--reason", required=True, help="Why (a dispute, an investigation, a court order): recorded.")
def retention_hold(subject_type: str, subject_id: str, reason: str) -> None:
    """Keep an instance, a customer's instances or a whole process from being archived."""
    from engine.services import retention as policy

    hold = policy.place_hold(_ctx(), subject_type, subject_id, reason=reason,
                             actor=Actor("cli", frozenset({"supervisor"})))
    click.echo(f"hold {hold.id} on {hold.subject_type} {hold.subject_id}")


@retention.command("release")
@click.argument("hold_id", type=int)
def retention_release(hold_id: int) -> None:
    """Release a legal hold (audited)."""
    from engine.services import retention as policy

    policy.release_hold(_ctx(), hold_id, actor=Actor("cli", frozenset({"supervisor"})))
    click.echo(f"hold {hold_id} released")


@retention.command("holds")
def retention_holds() -> None:
    """The active legal holds."""
    from engine.services import retention as policy

    for hold in policy.active_holds(_ctx()):
        click.echo(f"{hold.id}\t{hold.subject_type}\t{hold.subject_id}\t{hold.placed_by}\t"
                   f"{hold.placed_at.isoformat()}\t{hold.reason}")


@main.group()
def dsr() -> None:
    """Customers' data-subject requests (PIPL Arts. 45 and 47): list, show, answer."""


def _dsr_actor() -> Actor:
    return Actor("cli", frozenset({"compliance"}))


@dsr.command("list")
@click.option("--all", "everything", is_flag=True, help="Every request, newest first (default: open ones by deadline).")
def dsr_list(everything: bool) -> None:
    """Requests: id, customer (name masked), kind, channel, status, due (OVERDUE when late)."""
    from engine.dsr import service as requests

    for r in requests.list_requests(_ctx(), actor=_dsr_actor(), open_only=not everything):
        click.echo(f"{r.id}\t{r.customer_id}\t{r.customer_name}\t{r.kind}\t{r.channel}\t{r.status}\t"
                   f"{r.due_at.isoformat()}{chr(9) + 'OVERDUE' if r.overdue else ''}")


@dsr.command("show")
@click.argument("request_id", type=int)
def dsr_show(request_id: int) -> None:
    """One request as JSON."""
    from dataclasses import asdict

    from engine.dsr import service as requests

    click.echo(json.dumps(asdict(requests.get_request(_ctx(), request_id, actor=_dsr_actor())), default=str,
                          ensure_ascii=False))


@dsr.command("answer")
@click.argument("request_id", type=int)
@click.option("--answer", default="", help="What the customer reads.")
@click.option("--refuse", type=click.Choice(["identity_not_verified", "not_the_customer", "repeated_request"]),
              default=None, help="Refuse for this reason instead (--answer says why).")
@click.option("--export", "export_to", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the copy of an access request to this file (.json or .xlsx; audited).")
def dsr_answer(request_id: int, answer: str, refuse: str | None, export_to: Path | None) -> None:
    """Answer a request: an access request's copy becomes downloadable; a deletion erases the customer's personal
    data, or is refused with the hold that keeps it (audited)."""
    from engine.dsr import export as dsr_export
    from engine.dsr import service as requests

    ctx, actor = _ctx(), _dsr_actor()
    if refuse:
        view = requests.refuse(ctx, request_id, refuse, answer=answer, actor=actor)
    elif requests.get_request(ctx, request_id, actor=actor).kind == "access":
        view = requests.answer_access(ctx, request_id, answer=answer, actor=actor)
    else:
        view = requests.decide_deletion(ctx, request_id, answer=answer, actor=actor)
    click.echo(f"{view.id}\t{view.status}\t{view.refusal_reason or ''}\t{view.hold_until or ''}")
    if export_to is not None and view.kind == "access" and view.status == "answered":
        fmt = "xlsx" if export_to.suffix == ".xlsx" else "json"
        data = requests.download_export(ctx, request_id, fmt=fmt, actor=actor)
        export_to.write_bytes(dsr_export.to_xlsx(data) if fmt == "xlsx" else dsr_export.to_json(data))
        click.echo(f"copy written to {export_to}")


@main.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--with-keys", is_flag=True, help="Also copy the keyring (keep such a backup apart from the data's).")
def backup_command(dest: Path, with_keys: bool) -> None:
    """Back up the database (SQLite online backup, or pg_dump), the attachments and the key ids into DEST."""
    from engine.backup import backup, describe

    click.echo(json.dumps(describe(backup(_ctx(), dest, with_keys=with_keys)), ensure_ascii=False))


@main.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore_command(src: Path) -> None:
    """Restore a backup into the configured, empty database; messages that waited at backup time are held."""
    from dataclasses import asdict

    from engine.backup import restore
    from engine.clock import SystemClock

    click.echo(json.dumps(asdict(restore(Settings.from_env(), SystemClock(), src)), ensure_ascii=False))


@main.group()
def care() -> None:
    """Customer care scans."""


@care.command("scan")
@click.option("--day", default=None, help="Bank-local day YYYY-MM-DD (default: today).")
@click.option("--force", is_flag=True, help="Run even if the scan already ran for that day (starts nothing twice).")
def care_scan(day: str | None, force: bool) -> None:
    """Start today's birthday, holiday and revisit instances (idempotent)."""
    from datetime import date

    from engine.care.scans import run_daily_scans

    results = run_daily_scans(_ctx(), date.fromisoformat(day) if day else None, force=force)
    click.echo(json.dumps({job: {"started": r.started, "skipped": r.skipped, "ran": r.ran} for job, r in results.items()}))


@main.command()
@click.option("--name", default=None, help="Worker name in the logs and the queue (default: careflow-worker).")
@click.option("--until-empty", is_flag=True, help="Stop once the queue is empty instead of waiting for more.")
def worker(name: str | None, until_empty: bool) -> None:
    """Take wave chunks (large care scans) from the PostgreSQL job queue until Ctrl+C or SIGTERM.

    Run as many as you like on any machines; a killed worker's chunk is taken again by another after
    CAREFLOW_WAVES_STALLED_SECONDS (README, "Processes")."""
    from engine.care.scans import WAVE_SCANS
    from engine.care.waves import run_worker

    ctx = _ctx()
    if ctx.settings.is_sqlite:
        raise click.ClickException("careflow worker needs PostgreSQL: on SQLite the scheduler runs the waves itself")
    click.echo(f"worker {name or 'careflow-worker'} taking wave chunks; Ctrl+C to stop")
    run_worker(ctx, WAVE_SCANS, name=name, wait=not until_empty)


@main.group()
def wave() -> None:
    """Waves: large care scans split into chunks for careflow worker."""


@wave.command("run")
@click.argument("job", type=click.Choice(["birthday", "holiday", "revisit"]))
@click.option("--day", default=None, help="Bank-local day YYYY-MM-DD (default: today).")
@click.option("--force", is_flag=True, help="Run even if the scan already ran for that day (starts nothing twice).")
def wave_run(job: str, day: str | None, force: bool) -> None:
    """Run one scan: queued as a wave when CAREFLOW_WAVES_BACKEND says so, else here."""
    from datetime import date

    from engine.care.scans import run_scan

    ctx = _ctx()
    when = date.fromisoformat(day) if day else ctx.clock.now().astimezone(ctx.settings.zone).date()
    r = run_scan(ctx, job, when, force=force)
    click.echo(json.dumps({"job": job, "day": when.isoformat(), "started": r.started, "skipped": r.skipped,
                           "ran": r.ran, "chunks_queued": r.queued}))


@wave.command("status")
def wave_status() -> None:
    """The last week's waves: chunks by state, customers started and skipped."""
    from engine.care.waves import recent_waves

    for w in recent_waves(_ctx()):
        click.echo(json.dumps({"job": w.job, "day": w.day.isoformat(), "status": w.status, "chunks": w.chunks,
                               "started": w.started, "skipped": w.skipped}))


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--workers", default=None, type=click.IntRange(min=1), help="Worker processes (default: one per core, at least 2).")
@click.option("--threads", default=1, type=click.IntRange(min=1),
              help="Python threads per worker running the app (default 1: one request at a time per worker).")
@click.option("--with-scheduler", is_flag=True, help="Also run the scheduler (timers, outbox, care scans) beside it.")
def serve(host: str, port: int, workers: int | None, threads: int, with_scheduler: bool) -> None:
    """Serve the web app with granian (HTTP in Rust, the app in worker processes)."""
    from engine.bpmn.limits import cap_process_memory
    from web.server import default_workers, run

    settings = Settings.from_env()
    cap_process_memory(settings.core.worker_memory_mb)  # inherited by the workers granian starts
    run(host=host, port=port, workers=workers or default_workers(), threads=threads, with_scheduler=with_scheduler,
        instance_dir=settings.core.instance_dir, json_logs=settings.core.log_format == "json")


@main.group()
def customers() -> None:
    """Customer data from core banking."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None, help="Default: from the file name.")
@click.option("--accounts", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Accounts CSV.")
@click.option("--holdings", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Holdings CSV.")
def customers_import(file: Path, fmt: str | None, accounts: Path | None, holdings: Path | None) -> None:
    """Import customers (CSV or JSON; formats in engine/customers/records.py), printing progress and bad rows."""
    from engine.customers.imports import ImportRunView, start_import

    fmt = fmt or ("json" if file.suffix.lower() == ".json" else "csv")

    def progress(view: ImportRunView) -> None:
        if view.processed == view.total or view.processed % 50 == 0:
            click.echo(f"  {view.processed}/{view.total} ({view.percent}%): {view.created} created, "
                       f"{view.updated} updated, {view.unchanged} unchanged, {view.failed} failed", err=True)

    run = start_import(_ctx(), file.name, fmt, file.read_bytes(), _cli_actor(),
                       accounts=accounts.read_bytes() if accounts else None,
                       holdings=holdings.read_bytes() if holdings else None, on_progress=progress)
    for error in run.errors:
        where = f"{error.get('file', file.name)}:{error['row'] or '-'}"
        click.echo(f"  {where} {error['customer_id'] or '-'} {error['field']}: {error['message']} / {error['message_en']}")
    click.echo(f"import #{run.id} {run.status}: {run.total} rows, {run.created} created, {run.updated} updated, "
               f"{run.unchanged} unchanged, {run.failed} failed" + (f" ({run.message})" if run.message else ""))
    if run.status != "done":
        sys.exit(1)


@main.group()
def scores() -> None:
    """Explainable churn and propensity scores (engine.prediction.service)."""


def _day(day: str | None, ctx: EngineContext) -> Any:
    from datetime import date

    return date.fromisoformat(day) if day else ctx.clock.now().astimezone(ctx.settings.zone).date()


@scores.command("retrain")
@click.option("--day", default=None, help="Bank-local day YYYY-MM-DD to train as of (default: today).")
@click.option("--synthetic", is_flag=True, help="Learn from generated history (figures are about synthetic data).")
@click.option("--customers", default=1500, type=int, help="Synthetic customers to generate.")
def scores_retrain(day: str | None, synthetic: bool, customers: int) -> None:
    """Train every score; print each run's held-out quality or why there is none."""
    from engine.prediction import service as prediction

    ctx = _ctx()
    for run in prediction.retrain(ctx, _day(day, ctx), _cli_actor(), source="synthetic" if synthetic else None,
                                  customers=customers):
        quality = run.metrics.get("held_out")
        shown = (f"AUC {quality['auc']:.3f} (baseline {run.metrics['baseline']['auc']:.3f}), top-10% precision "
                 f"{quality['precision_top10']:.1%}, Brier {quality['brier']:.4f}" if quality else run.metrics.get("note"))
        click.echo(f"#{run.id} {run.kind} [{run.source}] {run.status}: {shown}")


@scores.command("score")
@click.option("--day", default=None, help="Bank-local day YYYY-MM-DD (default: today).")
def scores_score(day: str | None) -> None:
    """Score every active customer with the active models."""
    from engine.prediction import service as prediction

    ctx = _ctx()
    click.echo(json.dumps(prediction.score_all(ctx, _day(day, ctx), _cli_actor())))


@scores.command("act")
@click.option("--day", default=None, help="Bank-local day YYYY-MM-DD (default: today).")
def scores_act(day: str | None) -> None:
    """Retention revisits for high churn risks, leads for high propensities (suitable products only)."""
    from engine.prediction import service as prediction

    ctx = _ctx()
    done = prediction.start_actions(ctx, _day(day, ctx), _cli_actor())
    click.echo(json.dumps({"revisits": done.revisits, "leads": done.leads,
                           "blocked_by_suitability": done.blocked_by_suitability, "skipped": done.skipped}))


@main.group()
def calendar() -> None:
    """The business calendar: which years are official, load a year's 调休 notice, set single days."""


@calendar.command("status")
@click.option("--day", default=None, help="Bank-local day YYYY-MM-DD to look from (default: today).")
def calendar_status(day: str | None) -> None:
    """Where this year's and next year's working days come from; exit status 1 when next year's table is due
    (for monitoring: run it daily)."""
    from engine.services import calendar as cal

    ctx = _ctx()
    status = cal.calendar_status(ctx, _day(day, ctx))
    click.echo(f"country {status.country}, years without data: {status.fallback}")
    for year in status.years:
        table = f" ({year.table_source}; {year.rest_days} rest, {year.work_days} work)" if year.table_source else ""
        click.echo(f"{year.year}: {year.source}{table}")
    for year in status.attention:
        click.echo(f"attention: {year} has no official working-day data; load its notice with "
                   f"`careflow calendar import {year} FILE --source ...`", err=True)
    sys.exit(1 if status.attention else 0)


@calendar.command("import")
@click.argument("year", type=click.IntRange(1950, 2100))
@click.argument("file", type=click.File(encoding="utf-8-sig"))
@click.option("--source", required=True, help="The notice the table comes from, e.g. 国办发明电〔2026〕7号.")
def calendar_import(year: int, file: Any, source: str) -> None:
    """Load YEAR's complete table from FILE: lines `date[..last], rest|work|休|班, name` (replaces the last one)."""
    from engine.services import calendar as cal

    ctx = _ctx()
    status = cal.import_year(ctx, year=year, entries=cal.parse_table(file.read()), source=source, actor=_cli_actor())
    click.echo(f"{year}: {status.rest_days} rest days, {status.work_days} shifted working days from {source}")


@calendar.command("set")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
@click.argument("kind", type=click.Choice(["rest", "work"]))
@click.option("--name", default="", help="Why, e.g. 台风停业.")
def calendar_set(day: datetime, kind: str, name: str) -> None:
    """Make one DAY a rest or a working day (a typhoon closure)."""
    from engine.services import calendar as cal

    view = cal.set_day(_ctx(), day=day.date(), workday=kind == "work", name=name, actor=_cli_actor())
    click.echo(f"{view.day}: {'work' if view.workday else 'rest'} {view.name}".rstrip())


@calendar.command("unset")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
def calendar_unset(day: datetime) -> None:
    """Take DAY out of the bank's table."""
    from engine.services import calendar as cal

    cal.remove_day(_ctx(), day=day.date(), actor=_cli_actor())
    click.echo(f"{day.date()}: removed")


@main.group()
def search() -> None:
    """The global search's index."""


@search.command("reindex")
def search_reindex() -> None:
    """Rebuild the search index from every customer and complaint (after upgrading to it, or a new data key)."""
    from engine.services import search as search_service

    documents, tokens = search_service.reindex(_ctx(), actor=_cli_actor())
    click.echo(f"indexed {documents} customers and cases ({tokens} tokens)")


@main.group()
def demo() -> None:
    """Demo data for a first look."""


@demo.command("load")
def demo_load() -> None:
    """Users for each role, the processes in processes/, and a few waiting instances (idempotent)."""
    from web.demo import load

    for line in load(_ctx()):
        click.echo(line)


main.add_command(keys)
main.add_command(audit)
from web.cli_intake import intake  # noqa: E402  (careflow intake secret add|list|retire)

main.add_command(intake)


def run() -> None:
    try:
        main(standalone_mode=True)
    except EngineError as exc:
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        for line, message in exc.details.get("lines", {}).items():
            click.echo(f"  line {line}: {message}", err=True)
        if exc.details.get("days"):
            click.echo(f"  days: {', '.join(exc.details['days'])}", err=True)
        for problem in exc.details.get("problems", []):
            click.echo(f"  {problem['file']}:{problem['line'] or '?'} {problem['element_id'] or '-'}: "
                       f"{problem['message']}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
