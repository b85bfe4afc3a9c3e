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


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type, made here: werkzeug's test builder spools a large body to a
    temporary file that stays open (a ResourceWarning) when the app refuses it unread or the test ends first."""
    boundary = "careflow-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
              "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
              for name, (filename, content) in files.items()]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
