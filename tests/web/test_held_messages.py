"""Messages a restore held: listed on the supervisor desk, released one by one or all at once, by supervisors only."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import AuditEvent
from engine.outbox.models import OutboxMessage
from tests.support.web import login
from web import create_app


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _held(ctx, *keys: str) -> list[int]:
    now = ctx.clock.now()
    with Session(ctx.db) as session, session.begin():
        rows = [OutboxMessage(idempotency_key=key, customer_id="K1", channel="sms", purpose="care", template="birthday",
                              params={}, status="held", status_reason="restored", next_attempt_at=now, created_at=now)
                for key in keys]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _statuses(ctx) -> dict[str, str]:
    with Session(ctx.db) as session:
        return dict(session.execute(select(OutboxMessage.idempotency_key, OutboxMessage.status)).all())


def test_the_desk_lists_held_messages_and_releases_one_then_all(app, ctx):
    first, _second, _third = _held(ctx, "m-1", "m-2", "m-3")
    client, token = login(app, "sam")
    page = client.get("/supervisor").get_data(as_text=True)
    assert "恢复备份后暂扣" in page and page.count('name="message_id"') == 3 and "restored" not in page
    client.post("/supervisor/outbox/release", data={"csrf_token": token, "message_id": str(first)})
    assert _statuses(ctx) == {"m-1": "pending", "m-2": "held", "m-3": "held"}
    answer = client.post("/supervisor/outbox/release", data={"csrf_token": token, "message_id": str(first)},
                         follow_redirects=True).get_data(as_text=True)
    assert "只有暂扣的消息才能放行" in answer or "only a held message" in answer  # already released: refused
    client.post("/supervisor/outbox/release", data={"csrf_token": token, "all": "1"})
    assert set(_statuses(ctx).values()) == {"pending"}
    with Session(ctx.db) as session:
        released = session.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "outbox.released")).all()
    assert sorted(released) == sorted(str(i) for i in range(first, first + 3))
    assert "恢复备份后暂扣" not in client.get("/supervisor").get_data(as_text=True)  # nothing held: no section


def test_staff_cannot_release_and_a_malformed_id_is_a_400(app, ctx):
    (held,) = _held(ctx, "m-1")
    staff, token = login(app, "alice")
    staff.post("/supervisor/outbox/release", data={"csrf_token": token, "all": "1"})
    assert _statuses(ctx) == {"m-1": "held"}
    supervisor, token = login(app, "sam")
    assert supervisor.post("/supervisor/outbox/release", data={"csrf_token": token, "message_id": "x"}).status_code == 400
    assert _statuses(ctx) == {"m-1": "held"} and held
