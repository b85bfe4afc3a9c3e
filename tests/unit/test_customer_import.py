"""Customer import from core banking: per-row errors, encrypted storage, idempotency, progress, the HTTP adapter."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from engine.customers.accounts_models import CustomerAccount, CustomerHolding, RiskAssessment, TierChange
from engine.customers.customer360 import seed_products
from engine.customers.imports import get_import_run, start_import
from engine.customers.models import Consent, Customer
from engine.customers.records import id_checksum_ok
from engine.db.models import AuditEvent
from engine.errors import PermissionDeniedError
from engine.privacy import customer_field
from integrations.core_banking import CoreBankingAdapter, FileCoreBanking, HttpCoreBanking
from integrations.core_banking.http import signature

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"


@pytest.fixture
def catalogue(ctx):
    assert seed_products(ctx) == 13
    assert seed_products(ctx) == 0  # idempotent


def _csv(ctx, actor, **kw):
    return start_import(ctx, "customers.csv", "csv", (FIXTURES / "customers.csv").read_bytes(), actor,
                        accounts=(FIXTURES / "accounts.csv").read_bytes(),
                        holdings=(FIXTURES / "holdings.csv").read_bytes(), **kw)


def _brief(errors):
    return [(e["row"], e["customer_id"], e["field"], e["code"], e.get("file")) for e in errors]


def test_csv_import_reports_each_bad_row_and_stores_the_good_ones(ctx, people, catalogue):
    run = _csv(ctx, people["sam"])
    assert (run.status, run.total, run.processed, run.created, run.updated, run.unchanged, run.failed) == (
        "done", 7, 7, 3, 0, 0, 4)
    assert _brief(run.errors) == [
        (7, None, "customer_id", "orphan", "accounts"),  # accounts.csv line 7 names C999, not in the customer file
        (4, "C102", "id_number", "id_checksum", None),
        (5, "C103", "phone", "phone", None),
        (6, "C104", "holdings[0].product_code", "unknown_product", None),
        (7, "C100", "id", "duplicate_id", None),
    ]
    duplicate = run.errors[-1]
    assert duplicate["message"] == "文件中客户号重复（首次出现在第2行）"
    assert duplicate["message_en"] == "customer id repeated in this file (first at row 2)"
    assert run.errors[1]["message"] == "身份证号校验码错误"
    assert run.errors[2]["message_en"] == "not a mainland China mobile number"
    with ctx.sessions() as s:
        assert sorted(s.scalars(select(Customer.id))) == ["C100", "C101", "C105"]
        c100, c101, c105 = (s.get(Customer, cid) for cid in ("C100", "C101", "C105"))
        assert c100.aum == Decimal("50000.00")  # the loan's 300,000 counts 0
        assert c101.aum == Decimal("350000.00") and c105.aum == Decimal("1480000.50")
        assert (c100.tier, c101.tier, c105.tier) == ("gold", "platinum", "diamond")
        # "+86 138-0013-8001" normalised
        assert ctx.cipher.decrypt(c101.phone_enc, customer_field("phone", "C101")) == "13800138001"
        assert c101.phone_index == ctx.cipher.index("13800138001")
        number = ctx.cipher.decrypt(c100.id_number_enc, customer_field("id_number", "C100"))
        assert number == "11010519800520001X"
        assert (c105.birthday_calendar, c105.lunar_month, c105.lunar_day) == ("lunar", 7, 27)  # 1950-09-09 = 农历七月廿七
        assert (c101.birthday_md, c101.risk_level, c101.risk_valid_until) == ("02-29", 4, date(2026, 1, 15))
        assert (c105.risk_level, c105.risk_valid_until) == (1, date(2024, 12, 1))
        assert c100.customer_since == date(2010, 4, 1)
        consents = {(c.customer_id, c.channel, c.purpose): c.granted for c in s.scalars(select(Consent))}
        assert consents == {("C100", "all", "marketing"): True, ("C101", "all", "marketing"): False,
                            ("C101", "sms", "service"): True}
        assert [(a.external_id, a.number_last4) for a in s.scalars(
            select(CustomerAccount).where(CustomerAccount.customer_id == "C101").order_by(CustomerAccount.external_id))] == [
            ("A-101-1", "4321"), ("A-101-2", "5555")]
        assert [(h.customer_id, h.product_code, h.amount) for h in s.scalars(
            select(CustomerHolding).order_by(CustomerHolding.customer_id))] == [
            ("C101", "WMP-FI-1Y", Decimal("100000.00")), ("C105", "INS-ANNUITY-10Y", Decimal("200000.00"))]
        assert [(t.customer_id, t.tier, t.previous_tier, t.reason) for t in s.scalars(
            select(TierChange).order_by(TierChange.customer_id))] == [
            ("C100", "gold", None, "import"), ("C101", "platinum", None, "import"), ("C105", "diamond", None, "import")]


def test_raw_contact_data_never_reaches_the_database(ctx, people, catalogue, settings):
    run = _csv(ctx, people["sam"])
    secrets = ["13912345678", "13800138001", "11010519800520001X", "zhang.wei@example.cn", "12345678901",
               "440305199001010035"]
    with ctx.db.connect() as conn:
        rows = [str(tuple(r)) for table in ("customer", "audit_event", "customer_import_run", "tier_history")
                for r in conn.execute(text(f"SELECT * FROM {table}"))]
    assert rows and not [s for s in secrets if any(s in row for row in rows)]
    assert "12345678901" not in json.dumps(run.errors, ensure_ascii=False)  # the bad value is not echoed either
    if settings.is_sqlite:
        path = Path(settings.database.url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert not [s for s in secrets if s.encode() in raw]


def test_the_same_file_twice_changes_nothing(ctx, people, catalogue):
    _csv(ctx, people["sam"])
    with ctx.sessions() as s:
        events = s.scalar(select(text("count(*)")).select_from(AuditEvent))
        tiers = s.scalar(select(text("count(*)")).select_from(TierChange))
        risks = s.scalar(select(text("count(*)")).select_from(RiskAssessment))
    again = _csv(ctx, people["sam"])
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 3, 4)
    with ctx.sessions() as s:
        # Only the run's own "finished" event is new; no customer changed.
        assert s.scalar(select(text("count(*)")).select_from(AuditEvent)) == events + 1
        assert s.scalar(select(text("count(*)")).select_from(TierChange)) == tiers
        assert s.scalar(select(text("count(*)")).select_from(RiskAssessment)) == risks


def test_an_update_is_audited_by_field_name_only(ctx, people, catalogue):
    _csv(ctx, people["sam"])
    changed = [{"id": "C100", "name": "张伟", "phone": "13911112222", "tier": "platinum",
                "accounts": [{"external_id": "A-100-1", "kind": "savings", "last4": "1234", "balance": "260000",
                              "avg_daily_balance": "250000"}]},
               {"id": "C101", "name": "李娜", "tier": "diamond"},  # absent keys keep their stored values
               {"id": "C105", "name": "王秀英", "birth_date": "1950-09-09"}]
    run = start_import(ctx, "fix.json", "json", json.dumps(changed).encode(), people["sam"])
    assert (run.created, run.updated, run.unchanged, run.failed) == (0, 2, 1, 0)
    with ctx.sessions() as s:
        c100 = s.get(Customer, "C100")
        assert (c100.tier, c100.aum, c100.phone_index) == ("platinum", Decimal("250000.00"), ctx.cipher.index("13911112222"))
        closed = s.scalar(select(CustomerAccount.status).where(CustomerAccount.external_id == "A-100-2"))
        assert closed == "closed"  # no longer in core banking's set for C100
        event = s.scalars(select(AuditEvent).where(AuditEvent.stream == "customer:C100",
                                                   AuditEvent.action == "customer.updated")).one()
        assert event.after["fields"] == ["accounts", "aum", "phone", "tier"]
        assert "13911112222" not in json.dumps(event.after)
        c101, c105 = s.get(Customer, "C101"), s.get(Customer, "C105")
        assert (c101.tier, c101.preferred_channel, c101.risk_level) == ("diamond", "wechat", 4)
        assert (c105.birthday_calendar, c105.lunar_month, c105.lunar_day) == ("lunar", 7, 27)
        history = [(t.previous_tier, t.tier) for t in s.scalars(
            select(TierChange).where(TierChange.customer_id == "C100").order_by(TierChange.id))]
        assert history == [(None, "gold"), ("gold", "platinum")]


def test_json_import_with_nested_records(ctx, people, catalogue):
    run = start_import(ctx, "customers.json", "json", (FIXTURES / "customers.json").read_bytes(), people["sam"])
    assert (run.total, run.created, run.failed) == (7, 2, 5)
    assert sorted(_brief(run.errors)) == [
        (2, "J201", "id_number", "id_checksum", None),
        (3, "J202", "phone", "phone", None),
        (4, "J203", "holdings[0].product_code", "unknown_product", None),
        (5, "J200", "id", "duplicate_id", None),
        (6, "J204", "accounts[0].balance", "invalid", None),
        (6, "J204", "gender", "choice", None),
    ]
    gender = next(e for e in run.errors if e["field"] == "gender")
    assert gender["message"] == "取值不在允许范围内：F, M"
    with ctx.sessions() as s:
        j205 = s.get(Customer, "J205")
        assert (j205.aum, j205.birthday_calendar, j205.tier) == (Decimal("85000.50"), "lunar", "gold")
        j200 = s.get(Customer, "J200")
        assert (j200.risk_level, j200.preferred_channel, j200.aum) == (3, "email", Decimal("300000.00"))


def test_progress_is_committed_row_by_row(ctx, people, catalogue):
    seen = []

    def progress(view):
        polled = get_import_run(ctx, view.id, actor=people["sam"])  # what a polling page reads meanwhile
        seen.append((polled.status, polled.processed, polled.total, polled.percent))

    _csv(ctx, people["sam"], on_progress=progress)
    assert seen == [("running", n, 7, 100 * n // 7) for n in range(1, 8)]


def test_only_supervisors_import(ctx, people, catalogue):
    with pytest.raises(PermissionDeniedError):
        _csv(ctx, people["alice"])


def test_an_unreadable_file_fails_the_run_with_the_reason(ctx, people):
    run = start_import(ctx, "broken.json", "json", b"{not json", people["sam"])
    assert run.status == "failed" and run.message.startswith("not JSON")
    run = start_import(ctx, "x.csv", "csv", b"id,nom\nC1,x\n", people["sam"])
    assert run.status == "failed" and "unknown columns nom" in run.message


def test_id_number_check_digit():
    assert id_checksum_ok("11010519800520001X") and id_checksum_ok("110105199207070078")
    assert not id_checksum_ok("110105199207070077")


def test_http_adapter_pages_with_bearer_or_hmac_and_feeds_the_import(ctx, people, catalogue, clock):
    pages = {None: {"items": [{"id": "H1", "name": "郭芳", "tier": "gold"}], "next_cursor": "p2"},
             "p2": {"items": [{"id": "H2", "name": "罗杰", "phone": "13600006666"}], "next_cursor": None}}
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    client = httpx.Client(transport=httpx.MockTransport(handler))
    bearer = HttpCoreBanking("https://core.example/api", token="t0k", client=client, clock=clock)
    assert isinstance(bearer, CoreBankingAdapter)
    assert [r["id"] for r in bearer.fetch_customers(None)] == ["H1", "H2"]
    assert seen[0].headers["Authorization"] == "Bearer t0k" and seen[1].url.params["cursor"] == "p2"
    seen.clear()
    signed = HttpCoreBanking("https://core.example/api", hmac_secret="s3cret", client=client, clock=clock)
    run = start_import(ctx, signed.name, "http", signed.fetch_customers(None), people["sam"])
    assert (run.created, run.failed) == (2, 0)
    first = seen[0]
    assert first.headers["X-Timestamp"] == "1740963600"  # the frozen clock, 2025-03-03 01:00 UTC
    assert first.headers["X-Signature"] == signature("s3cret", "GET", "/api/customers?limit=200", "1740963600")
    assert "Authorization" not in first.headers


def test_file_adapter_reads_an_export(ctx, people, catalogue):
    adapter = FileCoreBanking(FIXTURES / "customers.csv", accounts=FIXTURES / "accounts.csv",
                              holdings=FIXTURES / "holdings.csv")
    records = list(adapter.fetch_customers(None))
    assert [r["id"] for r in records] == ["C100", "C101", "C102", "C103", "C104", "C100", "C105"]
    assert [a["external_id"] for a in records[0]["accounts"]] == ["A-100-1", "A-100-2"]


def test_demo_customers_import_cleanly_with_aum_inside_their_tier(ctx, people, catalogue):
    from engine.customers.tier_rules import tier_for_aum
    from web.demo import demo_customers

    records = demo_customers(date(2025, 3, 3), count=60)
    run = start_import(ctx, "demo", "json", records, people["sam"])
    assert (run.created, run.failed) == (60, 0), run.errors[:3]
    with ctx.sessions() as s:
        rows = s.scalars(select(Customer).order_by(Customer.id)).all()
        assert all(tier_for_aum(Decimal(c.aum)) == c.tier for c in rows)
        assert {"mass", "gold", "platinum", "diamond"} <= {c.tier for c in rows}
        assert (rows[0].id, rows[0].name, rows[0].birthday_md) == ("C0001", "林晓雯", "02-29")
        assert sum(c.birthday_calendar == "lunar" for c in rows) == 8  # every 7th: C0007 … C0056
        assert sum(c.birth_date.strftime("%m-%d") == "03-03" for c in rows) == 2  # C0025, C0050: birthday today
        assert any(c.risk_valid_until < date(2025, 3, 3) for c in rows)  # some questionnaires have expired
    assert start_import(ctx, "demo", "json", records, people["sam"]).unchanged == 60
