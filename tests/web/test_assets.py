"""Static bundles: hashed names from the build's manifest, a year's cache, compression of static files only."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tests.support.web import login
from web import assets, create_app


@pytest.fixture
def app(ctx, people):
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _theme_url(page: str) -> str:
    return re.search(r'href="(/static/build/theme-[A-Z0-9]{8}\.css)"', page).group(1)  # type: ignore[union-attr]


def test_pages_link_the_hashed_bundles_of_the_manifest(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    manifest = json.loads((assets.BUILD / "manifest.json").read_text())
    assert _theme_url(page) == f"/static/build/{manifest['theme.css']}"
    assert 'name="viewport"' in page and 'rel="icon"' in page


def test_a_hashed_bundle_is_cached_for_a_year_and_compressed(app):
    client = app.test_client()
    url = _theme_url(client.get("/login").get_data(as_text=True))
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"] and "max-age=31536000" in response.headers["Cache-Control"]
    css = gzip.decompress(response.get_data()).decode()
    assert ".btn-primary" in css and "#0b3d91" in css.lower()  # Bootstrap with the bank's blue
    response.close()


def test_pages_and_api_answers_are_never_compressed(app):
    """They carry CSRF tokens and customer data beside text an attacker can reflect (BREACH)."""
    client, _ = login(app, "alice")
    page = client.get("/inbox", headers={"Accept-Encoding": "gzip, br"})
    assert page.status_code == 200 and "Content-Encoding" not in page.headers


def test_the_favicon_is_served(app):
    response = app.test_client().get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    response.close()


def test_a_missing_build_names_the_command_that_builds_it(tmp_path):
    assets._manifest.cache_clear()
    try:
        with pytest.raises(assets.MissingBundleError, match="make frontend"):
            assets._manifest(tmp_path / "manifest.json")
    finally:
        assets._manifest.cache_clear()
