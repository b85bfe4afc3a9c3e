"""Backup in the middle of running work, restore into a new database, and the work goes on there.

The source is the test database with instances waiting on people and timers, an attachment and outbox messages
waiting to be sent. After the backup the source moves on; the restored copy holds the backup's moment: its waiting
messages are held (they may have gone out before the failure) until a supervisor releases them, its audit chains
verify, and its instances run to their end on the restored database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from engine.audit_check import verify_all
from engine.backup import Manifest, backup, restore
from engine.config import Settings
from engine.context import build_engine
from engine.db.models import InstanceStatus, ProcessInstance
from engine.errors import ConfigurationError, InvalidInputError
from engine.outbox.models import OutboxMessage
from engine.services import collaboration, instances, outbox
from engine.services.timers import fire_due_timers
from engine.views import SYSTEM
from tests.conftest import TEST_DATA_KEY
from tests.support import bpmn as b
from tests.support.engine import claim_and_complete, deploy, open_tasks


@pytest.fixture
def target(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty database of the same kind, with its own attachment folder."""
    def made(url: str) -> Settings:
        return replace(settings, database=replace(settings.database, url=url),
                       privacy=replace(settings.privacy, data_key_file=tmp_path / "keys" / "data.key"),
                       uploads=replace(settings.uploads, dir=tmp_path / "restored-attachments"))

    if settings.is_sqlite:
        yield made(f"sqlite:///{tmp_path / 'restored.db'}")
        return
    url = make_url(settings.database.url)
    name = f"careflow_restore_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield made(url.set(database=name).render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _waiting_message(ctx, key: str) -> None:
    now = ctx.clock.now()
    with Session(ctx.db) as session, session.begin():
        session.add(OutboxMessage(idempotency_key=key, channel="sms", purpose="care", template="birthday", params={},
                                  status="pending", next_attempt_at=now, created_at=now))


def test_a_restored_backup_holds_the_backup_s_moment_and_its_work_runs_to_the_end(ctx, people, clock, target,
                                                                                tmp_path):
    deploy(ctx, ("review.bpmn", b.linear("review", b.user_task("check", "Check", candidateGroups="service_team"),
                                         b.timer_catch("cool_off", "duration", '"P1D"'))))
    first = instances.start_instance(ctx, process_key="review", actor=SYSTEM, business_key="r-1")
    second = instances.start_instance(ctx, process_key="review", actor=SYSTEM, business_key="r-2")
    task = open_tasks(ctx, str(first.id))[0]
    slip = collaboration.add_attachment(ctx, task.id, actor=people["alice"], filename="slip.pdf",
                                        content=b"%PDF-1.4 deposit slip")
    claim_and_complete(ctx, task.id, people["alice"])  # the first now waits on its timer
    _waiting_message(ctx, "birthday-K1")

    manifest = backup(ctx, tmp_path / "backup")
    assert manifest.outbox_waiting == 1 and manifest.key_ids == ["k1"]
    assert any(name.startswith("attachments/") for name in manifest.files)
    assert not (tmp_path / "backup" / "keyring.json").exists()  # keys only when asked for

    claim_and_complete(ctx, open_tasks(ctx, str(second.id))[0].id, people["bob"])  # after the backup: lost

    report = restore(target, clock, tmp_path / "backup")
    assert report.held_messages == 1 and report.attachments >= 1 and report.revision == manifest.revision
    restored = build_engine(target, clock=clock)
    try:
        with restored.sessions() as session:
            assert verify_all(session).ok
            held = session.scalars(select(OutboxMessage)).one()
            assert (held.status, held.status_reason) == ("held", "restored")
        assert instances.get_instance(restored, str(second.id), actor=SYSTEM).open_tasks  # its task is open again
        assert collaboration.read_attachment(restored, slip.id, actor=people["sam"])[1] == b"%PDF-1.4 deposit slip"
        assert outbox.release_messages(restored, None, actor=people["sam"]) == 1
        with restored.sessions() as session:
            assert session.scalar(select(OutboxMessage.status)) == "pending"

        from engine.services import identity

        bob = identity.get_actor(restored, "bob")
        claim_and_complete(restored, open_tasks(restored, str(second.id))[0].id, bob)
        clock.advance(timedelta(days=1, minutes=1))
        fire_due_timers(restored)
        with restored.sessions() as session:
            ended = session.scalars(select(ProcessInstance.status)).all()
        assert ended == [InstanceStatus.COMPLETED, InstanceStatus.COMPLETED]
    finally:
        restored.db.dispose()


def test_a_restore_refuses_a_target_that_holds_data_a_damaged_backup_and_missing_keys(ctx, people, target, tmp_path,
                                                                                      clock):
    manifest = backup(ctx, tmp_path / "backup", with_keys=True)
    assert json.loads((tmp_path / "backup" / "keyring.json").read_text())["keys"] == {"k1": TEST_DATA_KEY}
    assert oct((tmp_path / "backup" / "keyring.json").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(InvalidInputError, match="not empty"):
        backup(ctx, tmp_path / "backup")

    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in [*manifest.files, "manifest.json"]:
        (damaged / name).parent.mkdir(parents=True, exist_ok=True)
        (damaged / name).write_bytes((tmp_path / "backup" / name).read_bytes())
    database = next(name for name in manifest.files if name.startswith("database."))
    with (damaged / database).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(InvalidInputError, match=f"{database} is missing from the backup or differs"):
        restore(target, clock, damaged)

    from dataclasses import replace

    # the target's keyring file does not exist: the backup's is installed
    other_ring = replace(target, privacy=replace(target.privacy, data_key=None))
    report = restore(other_ring, clock, tmp_path / "backup")
    assert report.keyring_installed and other_ring.privacy.data_key_file.read_text().count(TEST_DATA_KEY) == 1
    with pytest.raises(InvalidInputError, match="not empty"):
        restore(target, clock, tmp_path / "backup")


def test_a_restore_needs_every_key_the_backup_s_data_may_use(ctx, people, target, tmp_path, clock):
    manifest = backup(ctx, tmp_path / "backup")
    raw = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    raw["key_ids"] = [*manifest.key_ids, "k2"]
    (tmp_path / "backup" / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigurationError, match="lacks key ids k2"):
        restore(target, clock, tmp_path / "backup")
    probe = create_engine(target.database.url)
    try:
        assert inspect(probe).get_table_names() == []  # refused before anything was written
    finally:
        probe.dispose()
    with pytest.raises(InvalidInputError, match="not a CareFlow backup"):
        Manifest.read(tmp_path)
