"""Signing in through the real pages, as a browser would (cookie + CSRF token)."""

import re

from fastapi.testclient import TestClient

DEMO_PASSWORD = "brightwater-demo"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def sign_in(client: TestClient, handle: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    token = csrf_from(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"csrf_token": token, "handle": handle, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/ask").text)
