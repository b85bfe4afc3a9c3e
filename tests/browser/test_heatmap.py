"""The heatmap in Chromium: a badge on every element entered, durations in the page's one language, readable on a
desktop and on a phone (screenshots in test-artifacts/screenshots/heatmap_*.png)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.web.test_heatmap import MEAN_EN, MEAN_ZH, run_heat_process


def test_heatmap_badges_and_table_on_desktop_and_phone_in_both_languages(page, login, live_server, ctx, people, clock):
    run_heat_process(ctx, people, clock)
    login("sam")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for lang, means in (("zh", MEAN_ZH), ("en", MEAN_EN)):
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(f"{live_server}/designer/processes/heat/heatmap?lang={lang}")
        expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
        for element, mean in means.items():
            count = "2" if element in ("start", "review") else "1"
            expect(page.locator(f'.cf-heat[data-element="{element}"]')).to_have_text(f"{count} · {mean}")
            expect(page.locator(f'#stats tr[data-element="{element}"] td.avg')).to_have_text(mean)
        expect(page.locator('.cf-heat[data-element="never"]')).to_have_count(0)
        page.screenshot(path=str(SCREENSHOTS / f"heatmap_desktop_{lang}.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        expect(page.locator("body[data-viewer-ready='1']")).to_have_count(1)
        # One card per element: every value readable without scrolling sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(SCREENSHOTS / f"heatmap_phone_{lang}.png"), full_page=True)
        page.screenshot(path=str(SCREENSHOTS / f"heatmap_phone_{lang}_top.png"))
        page.locator('#stats tr[data-element="wait"]').scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"heatmap_phone_{lang}_table.png"))
