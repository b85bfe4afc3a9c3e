"""``careflow intake secret add|list|retire``: the signing secrets of the complaint intake channels.

Rotation without downtime: ``add`` a new secret beside the old one, give it to the channel, wait until its requests
are signed with it, then ``retire`` the old one. Each step is audited (stream ``intake``, actor ``cli``); a secret is
printed once, when it is made, and afterwards shown only by its fingerprint.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from engine.complaints import intake as intake_auth
from engine.context import EngineContext
from engine.errors import EngineError


@click.group()
def intake() -> None:
    """Signed complaint intake from channels (apps, WeChat)."""


@intake.group()
def secret() -> None:
    """Signing secrets: several may be active per channel, for rotation."""


def _run(action: Callable[[EngineContext], Any]) -> Any:
    from web.cli import _ctx

    try:
        return action(_ctx())
    except EngineError as exc:
        raise click.ClickException(f"[{exc.code}] {exc.message}") from exc


@secret.command("add")
@click.argument("channel")
@click.option("--label", default="", help="What this secret is for, e.g. the rotation's month.")
@click.option("--secret-stdin", is_flag=True, help="Read the secret from standard input instead of generating one.")
def secret_add(channel: str, label: str, secret_stdin: bool) -> None:
    """Add a secret for CHANNEL beside its active ones and print it (shown once)."""
    given = sys.stdin.readline().strip() if secret_stdin else None
    view, value = _run(lambda ctx: intake_auth.add_secret(ctx, channel, by="cli", secret=given, label=label))
    click.echo(f"added secret {view.id} for {view.channel} (fingerprint {view.fingerprint})")
    if given is None:
        click.echo(value)


@secret.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Also the retired secrets.")
def secret_list(include_retired: bool) -> None:
    """Stored secrets by channel: id, fingerprint, label, who added it and when (never the secret)."""
    for view in _run(lambda ctx: intake_auth.list_secrets(ctx, include_retired=include_retired)):
        retired = f"\tretired {view.retired_at.isoformat()} by {view.retired_by}" if view.retired_at else ""
        click.echo(f"{view.id}\t{view.channel}\t{view.fingerprint}\t{view.label or '-'}\t"
                   f"{view.created_at.isoformat()} by {view.created_by}{retired}")


@secret.command("retire")
@click.argument("secret_id", type=int)
def secret_retire(secret_id: int) -> None:
    """Stop accepting the stored secret SECRET_ID (the channel's other secrets stay valid)."""
    view = _run(lambda ctx: intake_auth.retire_secret(ctx, secret_id, by="cli"))
    click.echo(f"retired secret {view.id} of {view.channel} (fingerprint {view.fingerprint})")
