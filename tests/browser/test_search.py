"""The header's search box in a real browser: "/" focuses it from anywhere but a field, Enter shows the results."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import expect

from tests.support.care import add_customers, customer


def test_slash_focuses_the_box_and_a_two_character_name_is_found(page, login, live_server, ctx):
    add_customers(ctx, customer("W1", date(1980, 5, 20), name="王芳", phone="13912345678", manager="alice"),
                  customer("W2", date(1981, 6, 1), name="王小芳", phone="13912340000", manager="alice"))
    login("alice")
    page.goto(f"{live_server}/inbox")
    box = page.locator("#global-search")
    expect(box).not_to_be_focused()
    page.locator("input[name=customer]").focus()
    page.keyboard.press("/")  # typed into the filter, not a shortcut there
    expect(page.locator("input[name=customer]")).to_have_value("/")
    expect(box).not_to_be_focused()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the slash itself is not typed into the box
    page.keyboard.type("王芳")
    page.keyboard.press("Enter")
    expect(page.locator("#results-customers tr[data-customer]")).to_have_count(1)
    expect(page.locator("#results-customers")).to_contain_text("王*")
    expect(page.locator("#results-customers")).not_to_contain_text("王小芳")
