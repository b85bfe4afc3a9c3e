"""Demo data: users for each role, the processes in processes/, a few waiting instances."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from engine.bpmn.loader import SourceFile
from engine.care.scans import run_daily_scans
from engine.context import EngineContext
from engine.db.models import ProcessInstance, User
from engine.db.outreach import Customer
from engine.db.session import unit_of_work
from engine.outbox.dispatch import dispatch_due
from engine.services import customers, definitions, identity, instances
from engine.services.customers import CustomerInput, customer_row
from engine.views import SYSTEM, Actor

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "careflow-demo"
USERS = [
    ("zhang.wei", "张伟", ["staff"], ["service_team", "customer_managers"]),
    ("li.na", "李娜", ["staff"], ["service_team", "branch_team", "customer_managers"]),
    ("wang.fang", "王芳", ["supervisor"], ["service_team", "supervisors"]),
    ("chen.jie", "陈杰", ["designer"], []),
    ("admin", "系统管理员", ["admin"], []),
]


CARE_PROCESSES = {"birthday_care", "holiday_care", "periodic_revisit"}
FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞".split()


def _customers(today: date, count: int = 300) -> list[CustomerInput]:
    """Generated customers: some with a birthday or a revisit due today, lunar birthdays, one born on 29 February."""
    rng = random.Random(20261124)
    people = [CustomerInput(id="C0001", name="林晓雯", gender="F", birth_date=date(1988, 2, 29), tier="gold",
                            manager="zhang.wei", phone="13800000001", email="lin.xiaowen@example.cn")]
    for n in range(2, count + 1):
        born = date(rng.randrange(1945, 2003), today.month, today.day) if n % 25 == 0 and not (
            today.month == 2 and today.day == 29) else date(1945, 1, 1) + timedelta(days=rng.randrange(58 * 365))
        people.append(CustomerInput(
            id=f"C{n:04d}", name=rng.choice(FAMILY) + rng.choice(GIVEN), gender=rng.choice("FM"), birth_date=born,
            lunar_birthday=n % 7 == 0, tier=rng.choice(["mass"] * 5 + ["gold"] * 3 + ["platinum", "diamond", "private"]),
            manager=rng.choice(["zhang.wei", "li.na"]), branch=rng.choice(["朝阳支行", "海淀支行", "浦东支行"]),
            phone=f"13{rng.randrange(10**9):09d}", wechat_openid=f"o-demo-{n:04d}" if n % 3 == 0 else None,
            preferred_channel="wechat" if n % 3 == 0 else "sms",
            next_revisit_on=today + timedelta(days=-rng.randrange(0, 3) if n % 20 == 0 else rng.randrange(1, 180)),
        ))
    return people


def _load_customers(ctx: EngineContext) -> Iterator[str]:
    today = ctx.clock.now().astimezone(ctx.settings.zone).date()
    with ctx.sessions() as session:
        if session.scalar(select(func.count()).select_from(Customer)):
            return
    people = _customers(today)
    with unit_of_work(ctx.sessions) as session:
        session.add_all([customer_row(ctx, person) for person in people])
    for person in people[::10]:
        customers.set_consent(ctx, person.id, channel="all", purpose="marketing", granted=True, source="demo", actor=SYSTEM)
    for person in people[5::40]:
        customers.set_do_not_disturb(ctx, person.id, True, actor=SYSTEM, reason="demo")
    yield f"customers: {len(people)}"
    for job, result in run_daily_scans(ctx, today, force=True).items():
        yield f"care scan {job}: {result.started} started"
    report = dispatch_due(ctx)
    yield f"outbox: {report.sent} sent, {report.suppressed} suppressed, {report.deferred} waiting for the contact window"


def _bundles() -> list[list[SourceFile]]:
    forms = [SourceFile(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    decisions = [SourceFile(p.name, p.read_bytes()) for p in sorted((ROOT / "processes").glob("*.dmn"))]  # DMN beside its caller
    return [[SourceFile(p.name, p.read_bytes()), *decisions, *forms] for p in sorted((ROOT / "processes").glob("*.bpmn"))]


def load(ctx: EngineContext) -> Iterator[str]:
    with ctx.sessions() as session:
        existing = set(session.scalars(select(User.username)))
    for username, display, roles, groups in USERS:
        if username not in existing:
            identity.create_user(ctx, username=username, display_name=display, roles=roles, groups=groups,
                                 password=DEMO_PASSWORD, actor="demo")
        yield f"login: {username:<10} password: {DEMO_PASSWORD}  ({', '.join(roles)})"
    designer = Actor("demo", frozenset({"designer"}))
    for bundle in _bundles():
        result = definitions.deploy_definition(ctx, files=bundle, actor=designer)
        assert result is not None
        yield f"process: {result.definition.key} v{result.definition.version}"
        with ctx.sessions() as session:
            count = session.scalar(select(func.count()).where(ProcessInstance.process_key == result.definition.key))
        staff = identity.get_actor(ctx, "zhang.wei")
        if result.definition.key in CARE_PROCESSES:
            continue  # started by the daily scans below, one per customer and occasion
        for n in range(int(count or 0), 3):
            instances.start_instance(ctx, process_key=result.definition.key, actor=staff,
                                     business_key=f"DEMO-{n + 1:03d}", customer_id=f"C{1001 + n}")
    yield from _load_customers(ctx)
