"""``careflow keys …`` and ``careflow audit …``: data key rotation, audit chain verification and export."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import click

from engine.config import Settings
from engine.context import EngineContext, build_engine
from engine.db.session import unit_of_work
from engine.errors import ConfigurationError


def _ctx(settings: Settings | None = None) -> EngineContext:
    ctx = build_engine(settings or Settings.from_env())
    click.get_current_context().call_on_close(ctx.db.dispose)
    return ctx


@click.group()
def keys() -> None:
    """Personal data keys (the keyring file)."""


@keys.command("rotate")
@click.option("--batch-size", default=500, show_default=True, help="Rows re-encrypted per transaction.")
@click.option("--max-batches", type=int, default=None, help="Stop after this many batches (run again to continue).")
def keys_rotate(batch_size: int, max_batches: int | None) -> None:
    """Add a data key, make it active and re-encrypt every protected column with it.

    Safe to interrupt: run it again and it continues with the same key (each ciphertext names its key)."""
    from engine import keys as rotation

    settings = Settings.from_env()
    if settings.privacy.data_key:
        raise ConfigurationError("rotation writes the keyring file: move CAREFLOW_DATA_KEY into a file named by "
                                 "CAREFLOW_DATA_KEY_FILE and unset CAREFLOW_DATA_KEY")
    result = rotation.rotate(_ctx(settings), settings.privacy.data_key_file, batch_size=batch_size, max_batches=max_batches)
    verb = "started rotation to" if result.started else "continued rotation to"
    click.echo(f"{verb} key {result.key_id}: re-encrypted {result.reencrypted} row(s)")
    if result.done:
        click.echo("done: every protected column is under the active key; restart the server and scheduler")
    else:
        click.echo("not finished: run `careflow keys rotate` again to continue")
        sys.exit(3)


@keys.command("status")
def keys_status() -> None:
    """The keyring's key ids, the active one and whether a rotation is unfinished (never the keys)."""
    ctx = _ctx()
    ring = ctx.cipher.keyring
    source = "CAREFLOW_DATA_KEY" if ctx.settings.privacy.data_key else str(ctx.settings.privacy.data_key_file)
    click.echo(f"keyring: {source}")
    click.echo(f"keys: {', '.join(ring.keys)}; active: {ring.active}; primary: {ring.primary}"
               + ("; rotation unfinished" if ring.rotating else ""))


@click.group()
def audit() -> None:
    """The audit trail: verify the keyed chain, export a period."""


@audit.command("verify")
@click.option("--stream", default=None, help="One stream (e.g. customer:C0001); default: every stream.")
def audit_verify(stream: str | None) -> None:
    """Check the chain; exit 1 and name the first broken event (#id) of each broken stream."""
    from engine.audit_check import verify_all

    ctx = _ctx()
    with unit_of_work(ctx.sessions, write=False) as session:
        result = verify_all(session, stream)
    for check in result.broken:
        click.echo(f"BROKEN {check.stream}: first bad event #{check.broken_at} ({check.events} events)")
    click.echo(f"{result.streams} stream(s), {result.events} event(s): " + ("ok" if result.ok else "TAMPERED"))
    if not result.ok:
        sys.exit(1)


def _bound(value: str, zone: object, *, end: bool) -> datetime:
    """A day (bank-local; ``--to`` includes the whole day) or an ISO date-time with its offset."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + (timedelta(days=1) if end else timedelta())
            return datetime.combine(day, time(), tzinfo=zone)  # type: ignore[arg-type]
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (2025-03-01) or date-time") from exc
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r}: give the offset (+08:00) or just a date")
    return moment


@audit.command("export")
@click.option("--from", "start", required=True, help="First day (bank-local) or date-time.")
@click.option("--to", "end", required=True, help="Last day, included (bank-local), or an exclusive date-time.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File; default stdout.")
def audit_export(start: str, end: str, output: Path | None) -> None:
    """Events of a period as JSON lines (with their hashes), oldest first."""
    from engine.audit_check import export

    ctx = _ctx()
    begin, until = _bound(start, ctx.settings.zone, end=False), _bound(end, ctx.settings.zone, end=True)
    if until <= begin:
        raise click.BadParameter("--to must be after --from")
    with unit_of_work(ctx.sessions, write=False) as session:
        if output is None:
            export(session, begin, until, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as handle:
                written = export(session, begin, until, handle)
            click.echo(f"{written} event(s) written to {output}", err=True)
