"""Backup and restore: the database, the attachment files and the key versions, as one folder.

``careflow backup DEST`` writes::

    DEST/manifest.json       when, which database kind and migration, each file's SHA-256, the key ids in use
    DEST/database.sqlite     SQLite's online backup (a consistent copy while the app runs), or
    DEST/database.dump       pg_dump's custom format (one transaction: a consistent snapshot)
    DEST/attachments/…       the content-addressed attachment files (copied after the database: every file a
                             row in the copy names was written before that row committed, so it is there)
    DEST/keyring.json        only with ``--with-keys`` (mode 0600): the data keys. Keep it apart from the rest;
                             a backup that carries its own keys protects the personal data no better than none.

``careflow restore SRC`` fills an *empty* database (the configured ``DATABASE_URL``) and attachment folder from it,
after checking every file's hash and that the keyring it will run with holds every key id the backup's data needs.

**The restore fence.** Messages that waited in the outbox when the backup was taken may have been sent between the
backup and the failure; sending them again would text a customer twice. After a restore every such message is
``held``: it is not sent until a supervisor releases it (``careflow outbox release``, or the supervisor desk),
having checked with the channel's delivery report. Timers need no fence: a restored instance's timer fires again
only if the instance had not moved on in the restored copy, which is the state the bank now holds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, inspect, select, update
from sqlalchemy.engine import CursorResult, make_url

from engine import audit
from engine.clock import Clock
from engine.config import Settings, load_keyring
from engine.context import EngineContext, build_engine
from engine.db import migrate
from engine.db.session import make_db_engine, unit_of_work
from engine.errors import ConfigurationError, InvalidInputError
from engine.outbox.models import OutboxMessage, OutboxStatus

FORMAT = 1
MANIFEST = "manifest.json"
FENCED = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)


@dataclass(frozen=True)
class Manifest:
    format: int
    taken_at: str  # ISO 8601, UTC
    database: str  # "sqlite" | "postgresql"
    revision: str | None  # the migration the database was at
    key_ids: list[str]  # the keyring's ids when the backup was taken: data in the copy may need any of them
    active_key: str
    files: dict[str, str]  # relative path -> SHA-256
    outbox_waiting: int  # messages pending or being sent at backup time: held after a restore

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            raw = json.loads((folder / MANIFEST).read_text())
            manifest = cls(**raw)
        except FileNotFoundError as exc:
            raise InvalidInputError(f"{folder} holds no {MANIFEST}: not a CareFlow backup") from exc
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"{folder / MANIFEST} is damaged: {exc}") from exc
        if manifest.format != FORMAT:
            raise InvalidInputError(f"backup format {manifest.format} is not one this version reads ({FORMAT})")
        return manifest


@dataclass(frozen=True)
class RestoreReport:
    database: str
    revision: str | None
    attachments: int
    held_messages: int
    keyring_installed: bool


def backup(ctx: EngineContext, dest: Path, *, with_keys: bool = False) -> Manifest:
    """Write a backup of the running system into ``dest`` (a new or empty folder)."""
    settings, db = ctx.settings, ctx.db
    if dest.exists() and any(dest.iterdir()):
        raise InvalidInputError(f"{dest} is not empty: a backup goes into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    taken_at = ctx.clock.now()
    revision = migrate.current(db)
    with db.connect() as conn:
        waiting = conn.execute(select(func.count()).where(OutboxMessage.status.in_(FENCED))).scalar() or 0
    if settings.is_sqlite:
        _sqlite_backup(_sqlite_path(settings.database.url), dest / "database.sqlite")
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(dest / "database.dump"),
              _libpq_url(settings.database.url)], "pg_dump")
    source = settings.uploads.dir
    if source.exists():
        shutil.copytree(source, dest / "attachments", dirs_exist_ok=True)
    ring = load_keyring(settings)
    if with_keys:
        ring.save(dest / "keyring.json")
    files = {str(path.relative_to(dest)): _sha256(path) for path in sorted(dest.rglob("*")) if path.is_file()}
    manifest = Manifest(format=FORMAT, taken_at=taken_at.isoformat(), database="sqlite" if settings.is_sqlite
                        else "postgresql", revision=revision, key_ids=sorted(ring.keys), active_key=ring.active,
                        files=files, outbox_waiting=waiting)
    manifest.write(dest)
    return manifest


def restore(settings: Settings, clock: Clock, src: Path, *, actor: str = "cli") -> RestoreReport:
    """Fill the configured, empty database and attachment folder from the backup in ``src``, then fence the outbox."""
    manifest = Manifest.read(src)
    for name, digest in manifest.files.items():
        path = src / name
        if not path.is_file() or _sha256(path) != digest:
            raise InvalidInputError(f"{name} is missing from the backup or differs from its manifest: not restored")
    wanted = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest.database != wanted:
        raise InvalidInputError(f"a {manifest.database} backup cannot be restored into {wanted}")
    installed = _keys_for(settings, manifest, src)
    db = make_db_engine(settings)
    try:
        if inspect(db).get_table_names():
            raise InvalidInputError("the target database is not empty: restore into a new database")
        if settings.is_sqlite:
            db.dispose()
            _sqlite_backup(src / "database.sqlite", _sqlite_path(settings.database.url))
        else:
            _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname",
                  _libpq_url(settings.database.url), str(src / "database.dump")], "pg_restore")
        migrate.upgrade(db, keyring=load_keyring(settings))  # a backup of an older version runs on this one
        copied = _restore_attachments(src / "attachments", settings.uploads.dir)
        ctx = build_engine(settings, clock=clock, db=db)
        held = _fence(ctx, manifest, actor)
        return RestoreReport(database=wanted, revision=migrate.current(db), attachments=copied, held_messages=held,
                             keyring_installed=installed)
    finally:
        db.dispose()


def _keys_for(settings: Settings, manifest: Manifest, src: Path) -> bool:
    """Make sure the keyring the restored system runs with knows every key the backup's data may use. A backup
    that carries its keyring installs it where none exists yet; an existing keyring is never overwritten."""
    target = settings.privacy.data_key_file
    carried = src / "keyring.json"
    installed = False
    if not settings.privacy.data_key and not target.exists() and carried.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(carried, target)
        target.chmod(0o600)
        installed = True
    if not settings.privacy.data_key and not target.exists():
        raise ConfigurationError(f"no keyring at {target}: put the backup's keys there (or restore a backup taken "
                                 f"--with-keys); it needs key ids {', '.join(manifest.key_ids)}")
    missing = sorted(set(manifest.key_ids) - set(load_keyring(settings).keys))
    if missing:
        raise ConfigurationError(f"the keyring lacks key ids {', '.join(missing)} the backup's data may be encrypted "
                                 "with; restore the keyring of the backup's time first")
    return installed


def _restore_attachments(source: Path, target: Path) -> int:
    copied = 0
    if not source.exists():
        return 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            destination = target / path.relative_to(source)
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
                copied += 1
    return copied


def _fence(ctx: EngineContext, manifest: Manifest, actor: str) -> int:
    now = ctx.clock.now()
    with unit_of_work(ctx.sessions) as session:
        result = cast(CursorResult[Any], session.execute(
            update(OutboxMessage).where(OutboxMessage.status.in_(FENCED))
            .values(status=OutboxStatus.HELD.value, status_reason="restored", lease_until=None)))
        held = result.rowcount or 0
        audit.append(session, stream="system:backup", actor=actor, action="backup.restored", subject_type="backup",
                     subject_id=manifest.taken_at, at=now,
                     after={"taken_at": manifest.taken_at, "revision": manifest.revision, "held_messages": held})
    return held


def _sqlite_backup(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy even while other connections write."""
    if not source.exists():
        raise InvalidInputError(f"no SQLite database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigurationError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump and pg_restore read it (no ``+psycopg`` driver part)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(command: list[str], tool: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=24 * 3600)
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{tool} is not installed (PostgreSQL's client tools are needed)") from exc
    if done.returncode != 0:
        raise ConfigurationError(f"{tool} failed: {done.stderr.strip()[:2000]}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(manifest: Manifest) -> dict[str, Any]:
    """What ``careflow backup`` prints: the manifest without the per-file hashes."""
    shown = asdict(manifest)
    shown["files"] = len(manifest.files)
    return shown
