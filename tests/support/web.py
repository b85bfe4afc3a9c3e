"""Signing in through the real login form with Flask's test client (session cookie + CSRF token)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

PASSWORD = "correct horse 1"  # the `people` fixture's password


def login(app: Flask, username: str) -> tuple[Any, str]:
    """A test client signed in as ``username`` and the session's CSRF token for POSTs."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, token
