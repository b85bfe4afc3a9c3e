"""A whole year, day by day, for 1,000 generated customers (docs/domain.md §3.5, §5).

Every day at the scan time the three scans run and the outbox is dispatched, under a frozen clock.
Checked: exactly one birthday greeting per reachable customer, on the date the care-date rules give
(solar, lunar, 29 February, lunar 30th); holiday greetings on the dates written below; nothing to
customers who opted out or asked not to be disturbed; nothing sent outside 09:00–20:00 bank time.
"""

from __future__ import annotations

import os
import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.care.scans import run_daily_scans
from engine.customers.service import CustomerInput, set_consent, set_do_not_disturb
from engine.db.models import ProcessInstance
from engine.outbox.dispatch import dispatch_due
from engine.outbox.models import OutboxMessage
from engine.rules.care_dates import LunarBirthday, birthdays_between
from engine.views import SYSTEM
from tests.support.care import RecordingChannel, add_customers, deploy_care

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR = 2026
# 500 on SQLite, 100 on PostgreSQL, to keep the whole suite short on CI's two cores: every customer still
# meets every occasion of the year (set CAREFLOW_TEST_YEAR_CUSTOMERS=1000 for the larger run). The
# PostgreSQL-specific property, no double firing or sending with two schedulers, has its own test.
CUSTOMERS_SQLITE, CUSTOMERS_POSTGRES = 500, 100
# 2026 greeting days (docs/domain.md §5.2's table), written out rather than computed.
HOLIDAYS_2026 = {"new_year": date(2026, 1, 1), "spring_festival": date(2026, 2, 17), "lantern": date(2026, 3, 3),
                 "dragon_boat": date(2026, 6, 19), "mid_autumn": date(2026, 9, 25), "national_day": date(2026, 10, 1),
                 "double_ninth": date(2026, 10, 18)}


def _generate(n: int) -> list[CustomerInput]:
    rng = random.Random(2026)
    people = [CustomerInput(id="C-LEAP", name="林晓", birth_date=date(1988, 2, 29), phone="13900000000"),
              CustomerInput(id="C-L30", name="周敏", birth_date=date(1984, 11, 22), lunar_birthday=True,  # lunar 10/30
                            phone="13900000001")]
    for i in range(n - len(people)):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
        people.append(CustomerInput(
            id=f"C{i:05d}", name=rng.choice("王李张刘陈杨黄赵吴周") + rng.choice(["伟", "芳", "娜", "敏", "静", "强"]),
            gender=rng.choice("FM"), birth_date=born, lunar_birthday=rng.random() < 0.3,
            tier=rng.choice(["mass", "mass", "gold", "platinum"]), phone=f"139{rng.randrange(10**8):08d}"))
    return people


@pytest.mark.slow
def test_a_year_of_care(ctx, clock, is_postgres):
    sms = RecordingChannel("sms")
    ctx.register_channel(sms)
    deploy_care(ctx, "birthday_care", "holiday_care")
    default = CUSTOMERS_POSTGRES if is_postgres else CUSTOMERS_SQLITE
    people = _generate(int(os.environ.get("CAREFLOW_TEST_YEAR_CUSTOMERS", default)))
    add_customers(ctx, *people)
    assert LunarBirthday.from_solar(date(1984, 11, 22)) == LunarBirthday(10, 30)
    rng = random.Random(7)
    dnd = {p.id for p in rng.sample(people, len(people) // 20)}
    opted_out = {p.id for p in rng.sample([p for p in people if p.id not in dnd], len(people) // 20)}
    for cid in dnd:
        set_do_not_disturb(ctx, cid, True, actor=SYSTEM)
    for cid in opted_out:
        set_consent(ctx, cid, channel="all", purpose="service", granted=False, source="test", actor=SYSTEM)

    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        clock.set(datetime.combine(day, time(9, 0), tzinfo=SHANGHAI))
        run_daily_scans(ctx, day)
        dispatch_due(ctx)
        clock.set(datetime.combine(day, time(19, 0), tzinfo=SHANGHAI))
        dispatch_due(ctx)  # anything held back during the day
        day += timedelta(days=1)

    with ctx.sessions() as session:
        rows = session.execute(select(OutboxMessage, ProcessInstance.business_key).join(
            ProcessInstance, ProcessInstance.id == OutboxMessage.instance_id)).all()
    sent = [(m, key) for m, key in rows if m.status == "sent"]
    assert len(sms.delivered) == len(sent) == sms.attempts  # one delivery per sent row, nothing resent
    for message, _key in sent:
        local = message.sent_at.astimezone(SHANGHAI).time()
        assert time(9, 0) <= local < time(20, 0)
        assert message.customer_id not in dnd | opted_out
    suppressed = Counter(m.status_reason for m, _ in rows if m.status == "suppressed")
    assert set(suppressed) == {"do_not_disturb", "opted_out"} and all(m.status in ("sent", "suppressed") for m, _ in rows)

    birthdays: dict[str, list[date]] = defaultdict(list)
    holidays: dict[str, list[date]] = defaultdict(list)
    for message, key in sent:
        kind, *rest = key.split(":")
        local_day = message.sent_at.astimezone(SHANGHAI).date()
        if kind == "birthday":
            birthdays[message.customer_id].append(local_day)
        else:
            holidays[rest[0]].append(local_day)
    reachable = [p for p in people if p.id not in dnd | opted_out]
    for person in reachable:
        rule = {"lunar": LunarBirthday.from_solar(person.birth_date)} if person.lunar_birthday else {"solar": person.birth_date}
        expected = birthdays_between(date(YEAR, 1, 1), date(YEAR, 12, 31), **rule)
        assert birthdays[person.id] == expected, person
    assert birthdays["C-LEAP"] == [date(2026, 2, 28)]
    assert birthdays["C-L30"] == [date(2026, 12, 8)]  # lunar 10/30 does not exist in 2026: the 29th
    for occasion, when in HOLIDAYS_2026.items():
        assert set(holidays[occasion]) == {when}, occasion
    elderly = [p for p in reachable if p.birth_date <= date(1966, 10, 18)]
    assert len(holidays["double_ninth"]) == len(elderly)
    assert len(holidays["national_day"]) == len(reachable)
