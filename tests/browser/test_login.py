"""Signing in and out through the real login form, in a real browser."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from engine.services import instances, tasks
from tests.support import bpmn as b
from tests.support.engine import deploy, open_tasks


@pytest.fixture
def alices_task(ctx, people):
    """One task of service_team's, claimed by alice, so it is in her own task list."""
    xml = b.linear("callback_flow", b.user_task("call_back", "回访客户 Call the customer back",
                                                 candidateGroups="service_team", priority="70"), name="客户回访 Callback")
    deploy(ctx, ("callback_flow.bpmn", xml))
    started = instances.start_instance(ctx, process_key="callback_flow", actor=people["sam"], customer_id="C-0042")
    [task] = open_tasks(ctx, started.id)
    tasks.claim_task(ctx, task.id, actor=people["alice"])


def test_wrong_password_stays_on_login_with_the_error_in_the_chosen_language(page, login, live_server):
    response = login("alice", "not the password")
    assert response is not None and response.status == 401
    assert page.url == f"{live_server}/login"
    expect(page.locator("p.flash")).to_have_text("用户名或密码错误")
    expect(page.locator("input[name=username]")).to_be_visible()
    expect(page.get_by_role("button", name="退出")).to_have_count(0)
    page.click("#lang-en")  # the switch keeps the page and remembers the language
    assert page.url == f"{live_server}/login"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    login("alice", "not the password")
    expect(page.locator("p.flash")).to_have_text("Wrong user name or password")


def test_unknown_user_gets_the_same_error(page, login, live_server):
    response = login("mallory")
    assert response is not None and response.status == 401
    expect(page.locator("p.flash")).to_have_text("用户名或密码错误")


def test_right_password_lands_on_home_with_name_and_tasks(page, login, live_server, alices_task):
    response = login("alice")
    assert response is not None and response.status == 200
    assert response.request.redirected_from is not None  # POST /login answered with a redirect ...
    assert response.request.redirected_from.method == "POST"
    assert urlparse(page.url).path != "/login"  # ... to the landing page (the home page or the inbox)
    expect(page.locator("header")).to_contain_text("alice · 员工")  # the role's label, not its code
    expect(page.get_by_role("button", name="退出")).to_be_visible()
    expect(page.locator("p.flash")).to_have_count(0)
    row = page.locator("main table tr", has_text="回访客户")
    task_table = page.locator("main table").filter(has=page.locator("tr", has_text="回访客户"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("客户回访")  # the process's name in the page's language, not its key
    expect(row).to_contain_text("C-0042")
    expect(row).to_contain_text("2025-03-03 09:00")  # created at the frozen clock, shown in Asia/Shanghai
    expect(task_table.locator("th").filter(has_text="任务")).to_have_count(1)


def test_login_redirects_to_next_and_protected_pages_need_a_session(page, login, live_server):
    page.goto(f"{live_server}/")
    assert page.url.startswith(f"{live_server}/login")
    response = login("sam")
    assert response is not None and response.status == 200
    expect(page.locator("header")).to_contain_text("sam · 主管")


def test_logout_posts_with_csrf_and_ends_the_session(page, login, live_server):
    login("bob")
    token = page.locator("header form input[name=csrf_token]").input_value()
    assert token
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="退出").click()
    assert navigation.value is not None and navigation.value.status == 200
    assert page.url == f"{live_server}/login"
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.goto(f"{live_server}/")
    assert page.url.startswith(f"{live_server}/login")  # the session is gone


def test_logout_without_csrf_token_is_refused(page, login, live_server):
    login("bob")
    page.locator("header form input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="退出").click()
    assert navigation.value is not None and navigation.value.status == 400
    page.goto(f"{live_server}/")
    assert page.url == f"{live_server}/"  # still signed in
    expect(page.locator("header")).to_contain_text("bob · 员工")
