"""Global search (engine.services.search): bigrams find two-character names, identifiers find their rows, every
result is one the asker may see, masked, and every search is audited without its text."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, func, select

from engine.complaints import service as complaints
from engine.customers.models import Customer
from engine.db import search as index
from engine.db.models import AuditEvent
from engine.errors import InvalidInputError, PermissionDeniedError
from engine.services import instances
from engine.services.search import search
from engine.views import SYSTEM, Actor
from tests.processes.test_complaint_handling import complaint, deploy_complaints
from tests.support import bpmn as b
from tests.support.care import add_customers, customer
from tests.support.engine import deploy


@pytest.fixture
def world(ctx, people):
    """王芳 (W1) is alice's customer; 王小芳, 芳王芳 and 汪芳 are decoys; W1 filed one complaint and has a case."""
    add_customers(ctx,
                  customer("W1", name="王芳", phone="13912345678", manager="alice", branch="朝阳支行",
                           id_number="110105195503101234"),
                  customer("W2", name="王小芳", phone="13900000002", manager="bob"),
                  customer("W3", name="芳王芳", phone="13900000003", manager="bob"),
                  customer("W4", name="汪芳", phone="13900000004", manager="alice"))
    deploy_complaints(ctx)
    deploy(ctx, ("simple.bpmn", b.simple_task_process()))
    case, _ = complaints.submit_complaint(ctx, complaint(
        customer_id="W1", complainant_name="王芳", complainant_phone="13912345678", channel="phone",
        summary="信用卡被盗刷", facts="三月五日收到短信，信用卡在境外被盗刷两笔，共计５０００元。",
        request="要求全额退款并冻结账户"), actor=people["alice"])
    started = instances.start_instance(ctx, process_key="simple", actor=SYSTEM, customer_id="W1",
                                       business_key="REVISIT-W1-2025")
    return {"case": case, "instance": started.id, **people}


def ids(hits):
    return [getattr(h, "id", None) or h.case_no for h in hits]


def test_a_two_character_name_is_found_by_its_bigram_and_nothing_else_matches(ctx, world):
    found = search(ctx, "王芳", actor=world["alice"])
    assert ids(found.customers) == ["W1"]  # not 王小芳 (no 王芳 in it), not 汪芳; bob's 芳王芳 holds 王芳 too...
    found = search(ctx, "王芳", actor=world["sam"])
    assert sorted(ids(found.customers)) == ["W1", "W3"]  # ...and the supervisor sees both that hold it


def test_bigrams_out_of_order_are_not_a_match(ctx, world):
    # 芳王芳 has both bigrams of 王芳王 (王芳, 芳王) but not the text itself.
    assert search(ctx, "王芳王", actor=world["sam"]).customers == []
    assert ids(search(ctx, "芳王芳", actor=world["sam"]).customers) == ["W3"]


def test_the_phone_finds_the_customer_through_the_lookup_index(ctx, world):
    found = search(ctx, "139 1234 5678", actor=world["alice"])
    assert found.kind == "phone"
    assert ids(found.customers) == ["W1"]
    assert ids(found.cases) == [world["case"].case_no]  # the complainant's phone, and the customer's cases
    assert ids(search(ctx, "+86 139-1234-5678", actor=world["alice"]).customers) == ["W1"]
    assert ids(search(ctx, "110105195503101234", actor=world["alice"]).customers) == ["W1"]


def test_results_are_masked_as_lists_are(ctx, world):
    [hit] = search(ctx, "W1", actor=world["alice"]).customers
    assert (hit.name, hit.phone) == ("王*", "139****5678")
    [case] = search(ctx, "盗刷", actor=world["alice"]).cases
    assert case.complainant_name == "王*"
    text = json.dumps([str(v) for v in case.__dict__.values()], ensure_ascii=False)
    assert "13912345678" not in text and "王芳" not in text


def test_staff_outside_the_portfolio_do_not_get_the_customer(ctx, world):
    carol = world["carol"]  # staff of another team: not W1's manager, no branch grant
    assert search(ctx, "王芳", actor=carol).customers == []
    assert search(ctx, "13912345678", actor=carol).customers == []
    assert search(ctx, "W1", actor=carol).customers == []
    # the case is hers to read (staff read complaint_handling), masked; the revisit task is not her team's
    assert ids(search(ctx, "王芳", actor=carol).cases) == [world["case"].case_no]
    assert search(ctx, "REVISIT-W1-2025", actor=carol).tasks == []
    assert search(ctx, "REVISIT-W1-2025", actor=carol).instances == []


def test_a_phone_outside_the_grant_does_not_tell_whose_it_is(ctx, world, people):
    # A case filed by someone else about W1's matters, with another phone: carol may read it by its number, but
    # W1's phone must not lead her to it (that would name the phone's owner).
    other, _ = complaints.submit_complaint(ctx, complaint(
        customer_id="W1", complainant_name="王芳", complainant_phone="13700000000", channel="phone",
        summary="转账到账慢", business_type="payment_settlement", cause="facilities_systems"), actor=people["alice"])
    assert other.case_no not in ids(search(ctx, "13912345678", actor=people["carol"]).cases)
    assert other.case_no in ids(search(ctx, "13912345678", actor=people["alice"]).cases)  # her customer
    assert other.case_no in ids(search(ctx, "W1", actor=people["carol"]).cases)  # the case's own customer id


def test_complaint_text_case_number_and_business_key(ctx, world):
    alice, case_no = world["alice"], world["case"].case_no
    assert ids(search(ctx, "冻结账户", actor=alice).cases) == [case_no]
    assert ids(search(ctx, "５０００元", actor=alice).cases) == [case_no]  # full-width digits read as plain ones
    assert search(ctx, "冻结信用卡", actor=alice).cases == []
    by_number = search(ctx, case_no.lower(), actor=alice)
    assert by_number.kind == "case_no" and ids(by_number.cases) == [case_no]
    assert [i.id for i in by_number.instances] == [world["case"].instance_id]
    found = search(ctx, "REVISIT-W1-2025", actor=alice)
    assert [i.id for i in found.instances] == [world["instance"]] and found.instances[0].business_key
    assert [t.title for t in found.tasks] == ["Review request"]  # alice's team's task on that instance


def test_a_designer_finds_no_personal_data(ctx, world):
    found = search(ctx, "王芳", actor=world["dora"])
    assert (found.customers, found.cases) == ([], [])


def test_every_search_is_audited_without_its_text(ctx, world):
    search(ctx, "13912345678", actor=world["alice"])
    with ctx.sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.stream == "user:alice",
                                                         AuditEvent.action == "search.performed")).one()
    assert event.after["search"] == "phone"
    assert event.after["shown"]["customers"] == ["W1"]
    assert "13912345678" not in json.dumps(event.after)


def test_bad_queries_are_refused(ctx, world):
    for text in ("", "   ", "x" * 101):
        with pytest.raises(InvalidInputError):
            search(ctx, text, actor=world["alice"])
    with pytest.raises(InvalidInputError):
        search(ctx, "王芳", actor=world["alice"], limit=0)
    with pytest.raises(PermissionDeniedError):
        search(ctx, "王芳", actor=Actor("customer:W1", frozenset({"customer"})))


def test_the_index_follows_renames_and_a_reindex_rebuilds_it(ctx, world):
    with ctx.sessions.begin() as session:
        session.get(Customer, "W4").name = "李雷"
    assert ids(search(ctx, "李雷", actor=world["alice"]).customers) == ["W4"]
    assert search(ctx, "汪芳", actor=world["alice"]).customers == []
    with ctx.sessions.begin() as session:
        session.execute(delete(index.SearchToken))
    assert search(ctx, "王芳", actor=world["alice"]).customers == []
    documents, tokens = index.reindex(ctx.sessions, ctx.cipher)
    assert documents == 5 and tokens > 20  # four customers and one case
    assert ids(search(ctx, "王芳", actor=world["alice"]).customers) == ["W1"]
    assert ids(search(ctx, "盗刷", actor=world["alice"]).cases) == [world["case"].case_no]


def test_tokens_are_keyed_hashes_not_text(ctx, world):
    other = index.Tokenizer(type(ctx.cipher)("A" * 43 + "="))
    mine = index.tokenizer(ctx.cipher)
    assert mine.token("王芳") != other.token("王芳")
    with ctx.sessions() as session:
        stored = set(session.scalars(select(index.SearchToken.token).where(index.SearchToken.ref == "W1")))
        assert stored == {mine.token("王芳")}
        assert session.scalar(select(func.count()).select_from(index.SearchToken)) > 0


def test_a_phrase_of_common_pairs_walks_only_the_newest_cases_holding_the_rarest(ctx, world, monkeypatch):
    from engine.services import search as service

    for n in range(4):  # four more cases that say 冻结账户 (five in all), filed one after the other
        complaints.submit_complaint(ctx, complaint(
            customer_id=None, complainant_name=f"客户{n}", complainant_phone=f"1370000000{n}", channel="phone",
            summary="账户问题", facts="要求冻结账户", source_ref=f"walk-{n}"), actor=world["alice"])
    everything = ids(search(ctx, "冻结账户", actor=world["sam"]).cases)
    assert len(everything) == 5
    monkeypatch.setattr(index, "PROBE_CAP", 2)  # every pair is now "common"...
    monkeypatch.setattr(index, "WALK_CAP", 3)  # ...and the walk reads its three newest rows
    for cached in (index._probe_statement, service._cases_saying, service._customers_named):
        cached.cache_clear()
    try:
        assert ids(search(ctx, "冻结账户", actor=world["sam"]).cases) == sorted(everything, reverse=True)[:3]
    finally:
        for cached in (index._probe_statement, service._cases_saying, service._customers_named):
            cached.cache_clear()
