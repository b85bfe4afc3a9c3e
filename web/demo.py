"""Demo data for ``make run``: users for each role, the product catalogue, 300 customers through the import
service, every process in processes/ with its DMN tables and forms, and instances waiting at many steps.

Idempotent and quick (a few seconds on SQLite): users and products are added only when missing, the
customers only into an empty customer table, and each process gets its demo instances only once.
Customers are generated from a fixed seed: realistic names (surname + one- or two-character given
name, by gender), tiers spread with accounts whose average daily balances add up to an AUM inside the
tier (docs/domain.md §4.2), products matching the risk level, risk questionnaires of which some have expired
(§2.3), consents, solar and lunar birthdays, one customer born on 29 February (§5.5) and a few whose
birthday is today. They go through ``customer_import`` like a core-banking export would.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from engine.bpmn.loader import SourceFile
from engine.care.scans import run_daily_scans
from engine.complaints import service as complaints
from engine.complaints.service import ComplaintInput
from engine.context import EngineContext
from engine.customers import service as customers
from engine.customers.customer360 import seed_products
from engine.customers.imports import start_import
from engine.customers.models import Customer
from engine.customers.records import id_checksum_ok
from engine.db.models import ProcessInstance, User
from engine.db.session import unit_of_work
from engine.errors import EngineError
from engine.outbox.dispatch import dispatch_due
from engine.sales import service as sales
from engine.sales.models import SalesLead
from engine.services import definitions, identity, instances, tasks
from engine.views import SYSTEM, Actor, TaskView

ROOT = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "careflow-demo"
USERS = [
    ("zhang.wei", "张伟", ["staff"], ["service_team", "customer_managers", "front_desk"]),
    ("li.na", "李娜", ["staff"], ["service_team", "branch_team", "customer_managers"]),
    ("zhao.lei", "赵磊", ["staff"], ["revisit_team", "compliance", "service_team"]),
    ("wang.fang", "王芳", ["supervisor"], ["service_team", "supervisors", "compliance"]),
    ("chen.jie", "陈杰", ["designer"], []),
    ("admin", "系统管理员", ["admin"], []),
]
MANAGERS = ("zhang.wei", "li.na")
# Started by the daily scans (one per customer and occasion, lead or due re-assessment) or by their own services
# (complaints: submit_complaint; leads: create_lead), not by a bare start here.
SCANNED = {"birthday_care", "holiday_care", "periodic_revisit", "complaint_handling", "cross_sell_followup"}
# Complaints from every channel (docs/domain.md §1.3): (channel, business type, cause, summary, amount, how far the demo takes it)
COMPLAINTS = [
    ("mobile_app", "bank_cards", "fund_safety", "信用卡被重复扣款两笔，请求退回", "2680", "answered"),
    ("phone", "rmb_savings", "service_attitude", "柜员办理定期转存时态度生硬，未解释利率变化", None, "investigating"),
    ("wechat", "wealth_management", "disclosure", "理财产品到期收益低于宣传的业绩比较基准，销售时未充分提示风险",
     "150000", "claimed"),
    ("branch_counter", "loans", "pricing_terms", "提前还款被收取违约金，合同中未明确约定", "8000", "new"),
    ("portal", "personal_financial_info", "personal_info_security", "未经同意收到第三方保险推销电话，怀疑信息泄露",
     None, "new"),
    ("regulator_transfer", "payment_settlement", "rules_processes", "跨行转账延迟三天到账，监管转办", "50000", "new"),
]
# Cross-sell leads the managers are working on: (customer, product, source, reason)
LEADS = [("C0003", "FUND-BOND", "campaign", "债券基金季度推介"), ("C0012", "WMP-FI-1Y", "large_deposit", "活期大额入账"),
         ("C0021", "INS-ANNUITY-10Y", "life_event", "客户咨询子女教育金规划")]
INVESTIGATION = {"findings": "调阅交易流水与授权记录，确认同一笔消费被清算两次",
                 "decision": "upheld", "answer": "经核实，重复扣款属清算系统差错，已于今日退回您的账户。", "extension": "none"}
INSTANCES_PER_PROCESS = 4
# Steps the demo knows how to complete (form data that validates): the last demo instance of the process moves on.
DRIVE: dict[str, dict[str, dict[str, Any]]] = {
    "service_request": {"handle_request": {"resolution": "已为客户办理大额退款", "amount": 60000,
                                           "resolved": True}},  # over the limit: waits for a supervisor's approval
}

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢") + [
    "欧阳", "司马", "上官", "诸葛"]
GIVEN_F = list("芳娜敏静丽艳娟霞秀英华慧巧美婷雪琳晶欣怡佳雨梦楠倩颖洁露瑶")
GIVEN_M = list("伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅峰建国志")
BRANCHES = {"朝阳支行": "110105", "海淀支行": "110108", "浦东支行": "310115", "天河支行": "440106"}
# tier → (AUM range in yuan, risk levels to draw from): AUM inside the tier's floors (engine.customers.tier_rules)
TIERS = {"mass": ((3_000, 45_000), (1, 2, 2, 3)), "gold": ((60_000, 180_000), (2, 3, 3, 4)),
         "platinum": ((250_000, 900_000), (2, 3, 4)), "diamond": ((1_200_000, 5_000_000), (3, 4, 4, 5)),
         "private": ((6_500_000, 20_000_000), (3, 4, 5))}
TIER_MIX = ["mass"] * 10 + ["gold"] * 6 + ["platinum"] * 4 + ["diamond"] * 2 + ["private"]
# products a demo customer may hold, by (code, product risk level R, minimum)
HOLDABLE = [("WMP-CASH", 1, 1), ("WMP-FI-1Y", 2, 10_000), ("FUND-BOND", 2, 1_000), ("WMP-MIX-2Y", 3, 10_000),
            ("SD-NPP-6M", 2, 10_000), ("INS-ANNUITY-10Y", 2, 10_000), ("FUND-EQ-GROWTH", 5, 1_000),
            ("FUND-QDII-TECH", 5, 1_000), ("WMP-PRIV-FI", 3, 300_000)]


def chinese_name(rng: random.Random, gender: str) -> str:
    """A surname and a one- or two-character given name from the gender's common characters."""
    pool = GIVEN_F if gender == "F" else GIVEN_M
    given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given


def id_number(region: str, born: date, sequence: int, gender: str) -> str:
    """A well-formed 18-digit PRC ID number: region, birth date, a sequence odd for men, the check digit."""
    seq = sequence % 500 * 2 + (1 if gender == "M" else 0)
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    for check in "0123456789X":
        if id_checksum_ok(body + check):
            return body + check
    raise AssertionError("no check digit")  # every body has exactly one


def _money(value: float) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def _portfolio(rng: random.Random, n: int, aum: float, risk: int, today: date) -> tuple[list[dict[str, Any]],
                                                                                      list[dict[str, Any]]]:
    """Accounts whose average daily balances add up to ``aum`` (a loan on top for some), and holdings."""
    opened = today - timedelta(days=rng.randrange(200, 9000))
    invest = round(aum * rng.uniform(0.3, 0.7), 2) if aum > 50_000 else 0.0
    deposit = round(aum - invest, 2)
    current = round(min(deposit, rng.uniform(2_000, 30_000)), 2)
    accounts = [{"external_id": f"DEMO-{n:04d}-1", "kind": "current", "last4": f"{rng.randrange(10000):04d}",
                 "balance": _money(current * rng.uniform(0.9, 1.1)), "avg_daily_balance": _money(current),
                 "opened_on": opened.isoformat()}]
    if deposit - current > 0:
        accounts.append({"external_id": f"DEMO-{n:04d}-2", "kind": "time_deposit", "last4": f"{rng.randrange(10000):04d}",
                         "balance": _money(deposit - current), "avg_daily_balance": _money(deposit - current),
                         "opened_on": (opened + timedelta(days=30)).isoformat()})
    holdings: list[dict[str, Any]] = []
    if invest:
        accounts.append({"external_id": f"DEMO-{n:04d}-3", "kind": "investment", "last4": f"{rng.randrange(10000):04d}",
                         "balance": _money(invest), "avg_daily_balance": _money(invest),
                         "opened_on": (opened + timedelta(days=60)).isoformat()})
        suitable = [p for p in HOLDABLE if p[1] <= risk and p[2] <= invest / 2]
        for code, _, minimum in rng.sample(suitable, k=min(len(suitable), rng.choice((1, 2, 2, 3)))):
            bought = today - timedelta(days=rng.randrange(20, 700))
            # some mature within the coming month: the daily scan turns those into cross-sell leads
            matures = today + timedelta(days=rng.randrange(1, 30)) if n % 9 == 0 else bought + timedelta(days=730)
            holdings.append({"product_code": code, "amount": _money(max(invest / 3, minimum)), "bought_on": bought.isoformat(),
                             "matures_on": matures.isoformat()})
    if n % 11 == 0:
        accounts.append({"external_id": f"DEMO-{n:04d}-L", "kind": "loan", "last4": f"{rng.randrange(10000):04d}",
                         "balance": _money(rng.uniform(2e5, 1.5e6)), "avg_daily_balance": _money(rng.uniform(2e5, 1.5e6)),
                         "opened_on": (opened + timedelta(days=400)).isoformat()})
    return accounts, holdings


def demo_customers(today: date, count: int = 300) -> list[dict[str, Any]]:
    """Generated customer records in the import's JSON form (fixed seed: the same people every time)."""
    rng = random.Random(20261124)
    records = []
    for n in range(1, count + 1):
        gender = rng.choice("FM")
        if n == 1:
            born = date(1988, 2, 29)  # leap-day birthday: greeted on 28 February in common years (docs/domain.md §5.5)
        elif n % 25 == 0 and (today.month, today.day) != (2, 29):
            born = date(rng.randrange(1945, 2003), today.month, today.day)  # birthday today: a care instance now
        else:
            born = date(1945, 1, 1) + timedelta(days=rng.randrange(58 * 365))
        tier = "gold" if n == 1 else rng.choice(TIER_MIX)
        (low, high), risks = TIERS[tier]
        aum, risk = rng.uniform(low, high), rng.choice(risks)
        branch = rng.choice(list(BRANCHES))
        accounts, holdings = _portfolio(rng, n, aum, risk, today)
        record: dict[str, Any] = {
            "id": f"C{n:04d}", "name": "林晓雯" if n == 1 else chinese_name(rng, gender), "gender": "F" if n == 1 else gender,
            "birth_date": born.isoformat(), "lunar_birthday": n % 7 == 0,
            "phone": f"1{rng.choice('35789')}{rng.randrange(10**9):09d}",
            "id_number": id_number(BRANCHES[branch], born, n, "F" if n == 1 else gender),
            "branch": branch, "manager": MANAGERS[n % 2], "tier": tier,
            "preferred_channel": "wechat" if n % 3 == 0 else ("email" if n % 10 == 4 else "sms"),
            "risk_level": f"C{risk}",
            # about one in five questionnaires is older than a year (expired), a few expire within the month
            "risk_assessed_at": (today - timedelta(days=rng.choice((20, 90, 200, 300, 350, 380, 500)))).isoformat(),
            "consents": [{"channel": "all", "purpose": "marketing", "granted": n % 3 != 2}],
            "accounts": accounts, "holdings": holdings,
        }
        if n % 10 == 4 or n == 1:
            record["email"] = f"c{n:04d}@example.cn"
        if n % 17 == 0:
            record["consents"].append({"channel": "sms", "purpose": "service", "granted": False})
        records.append(record)
    return records


def _load_customers(ctx: EngineContext) -> Iterator[str]:
    today = ctx.clock.now().astimezone(ctx.settings.zone).date()
    with ctx.sessions() as session:
        if session.scalar(select(func.count()).select_from(Customer)):
            yield "customers: already loaded"
            return
    run = start_import(ctx, "demo", "json", demo_customers(today), SYSTEM)
    yield (f"customers: import #{run.id} {run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
           f"{run.failed} failed")
    with unit_of_work(ctx.sessions) as session:  # revisits: some due today, the rest spread over half a year
        for n in range(1, 301):
            due = today - timedelta(days=n % 3) if n % 20 == 0 else today + timedelta(days=n * 7 % 180 + 1)
            session.execute(update(Customer).where(Customer.id == f"C{n:04d}").values(next_revisit_on=due))
    for n in range(6, 301, 40):
        customers.set_do_not_disturb(ctx, f"C{n:04d}", True, actor=SYSTEM, reason="demo")


def _bundle(bpmn: Path) -> list[SourceFile]:
    """The BPMN file with the DMN tables it calls and the forms it names (by form key)."""
    text = bpmn.read_text(encoding="utf-8")
    decisions = set(re.findall(r"<spiffworkflow:calledDecisionId>\s*([\w.-]+)\s*<", text))
    form_keys = set(re.findall(r'name="formKey" value="([^"]+)"', text))
    files = [SourceFile(bpmn.name, text.encode("utf-8"))]
    for dmn in sorted((ROOT / "processes").glob("*.dmn")):
        content = dmn.read_text(encoding="utf-8")
        if any(re.search(rf'<decision\b[^>]*\bid="{re.escape(d)}"', content) for d in decisions):
            files.append(SourceFile(dmn.name, content.encode("utf-8")))
    files += [SourceFile(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json")) if p.stem in form_keys]
    return files


def _deploy_all(ctx: EngineContext) -> Iterator[tuple[str, str]]:
    designer = Actor("demo", frozenset({"designer"}))
    for bpmn in sorted((ROOT / "processes").glob("*.bpmn")):
        try:
            result = definitions.deploy_definition(ctx, files=_bundle(bpmn), actor=designer)
        except EngineError as exc:
            yield "", f"process {bpmn.name}: skipped, does not deploy ({exc.message[:160]})"
            continue
        assert result is not None
        yield result.definition.key, f"process: {result.definition.key} v{result.definition.version}"


def _candidate(task: TaskView, actors: dict[str, Actor]) -> Actor | None:
    for actor in actors.values():
        if actor.username in task.candidate_users or set(task.candidate_groups) & actor.groups:
            return actor
    return None


def _start_demo_instances(ctx: EngineContext, key: str, actors: dict[str, Actor]) -> str:
    """A few instances of ``key``: one left in the queue, one claimed, the rest also claimed by someone else."""
    with ctx.sessions() as session:
        existing = int(session.scalar(select(func.count()).where(ProcessInstance.process_key == key)) or 0)
        gave_up = session.scalar(select(ProcessInstance.id).where(
            ProcessInstance.process_key == key, ProcessInstance.business_key.like("DEMO-%"),
            ProcessInstance.status == "cancelled").limit(1))
    if gave_up is not None:
        return f"  {key}: skipped (needs start data the demo does not give)"
    supervisor = actors["wang.fang"]
    started = 0
    for n in range(existing, INSTANCES_PER_PROCESS):
        customer_id = f"C{(n * 37 + len(key)) % 300 + 1:04d}"
        view = instances.start_instance(ctx, process_key=key, actor=actors["zhang.wei"], business_key=f"DEMO-{key}-{n + 1}",
                                        customer_id=customer_id, variables={"customer_id": customer_id})
        if view.status == "error":  # this process needs start data the demo does not know: not left as a failure
            instances.cancel_instance(ctx, view.id, actor=supervisor, reason="demo: needs its own start data")
            reason = (view.error or {}).get("message")
            return f"  {key}: skipped, its first step needs start data the demo does not give ({reason})"[:300]
        started += 1
        open_tasks = instances.get_instance(ctx, view.id, actor=SYSTEM).open_tasks
        if n % 2 == 1 and open_tasks:
            task = open_tasks[0]
            who = _candidate(task, actors)
            if who is not None:
                tasks.claim_task(ctx, task.id, actor=who)
                data = DRIVE.get(key, {}).get(task.task_name)
                if data is not None and n == INSTANCES_PER_PROCESS - 1:
                    tasks.complete_task(ctx, task.id, actor=who, data=data)
    return f"  {key}: {started} demo instances started"


def _demo_complaints(ctx: EngineContext, actors: dict[str, Actor]) -> str:
    """Complaints from several channels, at different steps: new, claimed, investigating, answered (idempotent)."""
    clerk, created = actors["zhang.wei"], 0
    for n, (channel, business, cause, summary, amount, stage) in enumerate(COMPLAINTS, start=1):
        customer_id = f"C{n * 41 % 300 + 1:04d}"
        view, new = complaints.submit_complaint(ctx, ComplaintInput(
            channel=channel, business_type=business, cause=cause, summary=summary, customer_id=customer_id,
            amount=Decimal(amount) if amount else None, source="demo", source_ref=f"DEMO-{n}"), actor=clerk)
        created += new
        if not new or stage == "new" or view.instance_id is None:
            continue
        for task in instances.get_instance(ctx, view.instance_id, actor=SYSTEM).open_tasks:
            who = _candidate(task, actors)
            if who is None:
                continue
            tasks.claim_task(ctx, task.id, actor=who)
            if stage == "answered" and task.form_key == "complaint_investigate":
                tasks.complete_task(ctx, task.id, actor=who, data=INVESTIGATION)
    return f"  complaint_handling: {created} demo complaints filed"


def _demo_leads(ctx: EngineContext, actors: dict[str, Actor]) -> str:
    with ctx.sessions() as session:  # once: a lead the suitability check blocked is closed, not open
        if session.scalar(select(SalesLead.id).where(SalesLead.source != "maturity").limit(1)) is not None:
            return "  cross_sell_followup: demo leads already opened"
    created = 0
    for customer_id, product, source, reason in LEADS:
        try:
            lead = sales.create_lead(ctx, customer_id=customer_id, product_code=product, source=source, reason=reason,
                                     actor=actors["li.na"])
        except EngineError as exc:  # e.g. the product is in its cooling-off for this customer
            return f"  cross_sell_followup: lead {customer_id}/{product} not opened ({exc.message[:120]})"
        created += lead.created
    return f"  cross_sell_followup: {created} demo leads opened"


def load(ctx: EngineContext) -> Iterator[str]:
    with ctx.sessions() as session:
        existing = set(session.scalars(select(User.username)))
    for username, display, roles, groups in USERS:
        if username not in existing:
            identity.create_user(ctx, username=username, display_name=display, roles=roles, groups=groups,
                                 password=DEMO_PASSWORD, actor="demo")
        yield f"login: {username:<10} password: {DEMO_PASSWORD}  ({', '.join(roles)})"
    yield f"products: {seed_products(ctx)} added"
    yield from _load_customers(ctx)
    actors = {name: identity.get_actor(ctx, name) for name, _, roles, _ in USERS if "staff" in roles or
              "supervisor" in roles}
    deployed = []
    for key, line in _deploy_all(ctx):
        yield line
        if key:
            deployed.append(key)
    for key in deployed:
        if key not in SCANNED:
            yield _start_demo_instances(ctx, key, actors)
    if "complaint_handling" in deployed:
        yield _demo_complaints(ctx, actors)
    if "cross_sell_followup" in deployed:
        yield _demo_leads(ctx, actors)
    today = ctx.clock.now().astimezone(ctx.settings.zone).date()
    for job, result in run_daily_scans(ctx, today, force=True).items():
        yield f"daily scan {job}: {result.started} started"
    report = dispatch_due(ctx)
    yield f"outbox: {report.sent} sent, {report.suppressed} suppressed, {report.deferred} waiting for the contact window"
    first = demo_customers(today, 1)[0]
    yield (f"portal: /portal, sign in as {first['name']} with {first['phone']}; with sandbox channels the code "
           "arrives at /dev/mailbox")
