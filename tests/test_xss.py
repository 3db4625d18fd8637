"""Hostile input in every field people can type into, rendered by headless Chromium
against a real `kb serve`: nothing may run."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import copy_home, kb_env
from tests.web_helpers import DEMO_PASSWORD, running_server

MARK = "window.__pwned=1"
PAYLOADS = [
    f"<script>{MARK}</script>",
    f'<img src=x onerror="{MARK}">',
    f"<svg onload={MARK}>",
    f'"><script>{MARK}</script>',
    f"' onmouseover='{MARK}' x='",
    f"[click me](javascript:{MARK})",
    f'<a href="javascript:{MARK}">link</a>',
    f'<iframe src="javascript:{MARK}"></iframe>',
    "{{ 7*7 }} {% print(1) %}",
]
ALL = "\n\n".join(PAYLOADS)


@pytest.fixture(scope="module")
def server(
    demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("xss") / "kb-home"
    copy_home(demo_people_home, home)
    env = kb_env(home)
    name = f"Mallory {PAYLOADS[1]}"
    result = subprocess.run(
        [sys.executable, "-m", "kb", "user", "add", "grace.okafor", "--full-name", name,
         "--role", "tutor"],
        input=f"{DEMO_PASSWORD}\n{DEMO_PASSWORD}\n", text=True, capture_output=True,
        env={**__import__("os").environ, **env}, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base, home


def signed_in(browser: Browser, base: str, handle: str) -> tuple[Page, list[str]]:
    page = browser.new_context(base_url=base).new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/signin")
    page.fill("#handle", handle)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("a.me")
    return page, dialogs


def api(page: Page, path: str, payload: object) -> Any:
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    response = page.request.post(
        path,
        data=json.dumps(payload),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )
    assert response.ok, response.text()
    return response.json()


def assert_inert(page: Page, path: str) -> None:
    page.goto(path)
    page.mouse.move(200, 300)  # give onmouseover a chance
    for anchor in page.locator("a").all():
        href = (anchor.get_attribute("href") or "").strip().lower()
        assert not href.startswith("javascript:"), (path, href)
    assert page.evaluate("window.__pwned") is None, path
    assert "49" not in page.locator("body").inner_text().split("7*7")[0][-5:], path


def test_payloads_in_every_field_stay_inert(server: tuple[str, Path], browser: Browser) -> None:
    base, _home = server
    leon, dialogs = signed_in(browser, base, "leon.fischer")
    problem = api(
        leon, "/api/problems", {"title": f"Title {PAYLOADS[0]} {PAYLOADS[1]}", "body": ALL}
    )
    practice = api(leon, "/api/practices", {"title": f"Practice {PAYLOADS[3]}", "body": ALL})
    comment = api(leon, f"/api/entries/{problem['id']}/comments", {"body": ALL})

    grace, grace_dialogs = signed_in(browser, base, "grace.okafor")  # knowledge manager
    api(grace, f"/api/problems/{problem['id']}/solutions", {"body": ALL})
    api(grace, f"/api/entries/{practice['id']}/feedback", {"kind": "flag", "reason": ALL})
    api(
        grace,
        f"/api/problems/{problem['id']}/route",
        {"people": ["marta.kowalski"], "note": PAYLOADS[4]},
    )
    article = api(
        grace,
        "/api/articles",
        {
            "title": f"Article {PAYLOADS[2]}",
            "sections": {key: ALL for key in ("problem", "context", "cause", "resolution",
                                              "applies_when", "not_applies_when")},
            "sources": ["MNT-P-001"],
        },
    )  # fmt: skip
    collection = api(
        grace,
        "/api/collections",
        {"title": f"Booklet {PAYLOADS[0]}", "introduction": ALL,
         "entries": [article["id"], problem["id"]], "questions": PAYLOADS},
    )  # fmt: skip
    for payload in PAYLOADS[:3]:
        leon.goto(f"/search?q={quote(payload)}")  # failed searches feed the console

    marta, marta_dialogs = signed_in(browser, base, "marta.kowalski")
    pages = [
        f"/entries/{problem['id']}",
        f"/entries/{practice['id']}",
        f"/entries/{article['id']}",
        f"/entries/{problem['id']}/revisions",
        f"/search?q={quote(PAYLOADS[0])}",
        f"/search?q={quote(PAYLOADS[3])}",
        f"/ask?title={quote(PAYLOADS[3])}",
        "/",
        "/people/grace.okafor",
        "/repertoire",
        f"/collections/{collection['id']}",
        f"/collections/{collection['id']}/booklet.html",
        "/reviews",
    ]
    for path in pages:
        assert_inert(leon, path)
    assert_inert(marta, "/inbox")
    assert_inert(grace, "/console?weeks=4")
    assert dialogs == grace_dialogs == marta_dialogs == []
    assert comment["body"] == ALL  # stored as typed, shown as text
