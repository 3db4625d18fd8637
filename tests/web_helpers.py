"""Signing in through the real pages, as a browser would (cookie + CSRF token), and
running `kb serve` as a real process."""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import kb_env

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEMO_PASSWORD = "brightwater-demo"
# Debian's chromium, as the probe of these machines starts it (never `playwright install`).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(home: Path, *serve_args: str, **env: str) -> Iterator[str]:
    """`kb serve [serve_args]` as a real process on a free port; yields its base URL.

    Its output goes to a file, not a pipe: a pipe nobody reads fills up after a few
    hundred access-log lines and then blocks the server."""
    port = free_port()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "kb", "serve", "--port", str(port), *serve_args],
            env={**os.environ, **kb_env(home), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    output.seek(0)
                    raise AssertionError(f"kb serve stopped:\n{output.read().decode()}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "kb serve did not come up in 90 s"
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class SignedIn:
    """One signed-in browser session against the shared app."""

    def __init__(self, app: object, handle: str) -> None:
        self.client = TestClient(app)  # type: ignore[arg-type]
        self.handle = handle
        token = sign_in(self.client, handle)
        self.headers = {"X-CSRF-Token": token}

    def post(self, path: str, json: object = None) -> Response:
        return self.client.post(path, json=json, headers=self.headers)

    def patch(self, path: str, json: object) -> Response:
        return self.client.patch(path, json=json, headers=self.headers)


def browser_sign_in(page: "Page", handle: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real sign-in page in Chromium, and wait until signed in."""
    from playwright.sync_api import expect

    page.goto("/signin")
    page.fill("#handle", handle)
    page.fill("#password", password)
    page.click("form.stacked button[type=submit]")
    expect(page.locator("a.me")).to_be_visible()
