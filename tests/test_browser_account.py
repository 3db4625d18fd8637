"""The account page in headless Chromium against a real `kb serve` process: change the
password and sign in with the new one, create and revoke an API token (checked with a
real HTTP client), mark oneself away and change the e-mail setting; at desktop size and
at a phone's (390×844), where the page must not scroll sideways."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import copy_home
from tests.web_helpers import DEMO_PASSWORD, running_server

NEW_PASSWORD = "lighthouse keeper 42"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(scope="module")
def base_url(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("browser-account") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


def sign_in(page: Page, handle: str, password: str) -> None:
    page.goto("/signin")
    page.fill("#handle", handle)
    page.fill("#password", password)
    page.click("form.stacked button[type=submit]")
    expect(page.locator("a.me")).to_be_visible()


def assert_fits(page: Page, step: str) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{step}: scrolls sideways {widths}"


@pytest.mark.parametrize(
    ("handle", "viewport"),
    [
        ("peter.lindqvist", {"width": 1280, "height": 900}),
        ("jonas.weber", {"width": 390, "height": 844}),
    ],
    ids=["desktop", "phone"],
)
def test_a_person_manages_their_account(
    browser: Browser, base_url: str, handle: str, viewport: dict[str, int]
) -> None:
    context = browser.new_context(base_url=base_url, viewport=viewport)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, handle, DEMO_PASSWORD)
        page.goto("/account")
        expect(page.locator("h1")).to_have_text("Your account")
        assert_fits(page, "the page")

        # A new password: this browser stays signed in; the new one signs in afterwards.
        page.fill("#current-password", DEMO_PASSWORD)
        page.fill("#new-password", NEW_PASSWORD)
        page.fill("#repeat-password", NEW_PASSWORD)
        page.click("#password-form button[type=submit]")
        expect(page.locator(".flash-area .flash")).to_contain_text("Your password is changed")
        expect(page.locator("a.me")).to_be_visible()
        page.click("form[action='/signout'] button")
        sign_in(page, handle, NEW_PASSWORD)

        # A token: shown once, accepted by the API, refused once revoked.
        page.goto("/account#tokens")
        page.fill("#token-label", "browser test script")
        page.click("#token-form button[type=submit]")
        expect(page.locator(".flash-area .flash")).to_contain_text("is created")
        token = page.locator("#new-token").inner_text().strip()
        assert token.startswith("kb_")
        assert_fits(page, "the new token")
        me = httpx.get(f"{base_url}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["id"] == handle
        row = page.locator(".token-list li", has_text="browser test script")
        row.locator("button.revoke").click()
        expect(page.locator(".flash-area .flash")).to_contain_text("is revoked")
        expect(page.locator(".token-list li", has_text="browser test script")).to_contain_text(
            "revoked"
        )
        refused = httpx.get(f"{base_url}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401

        # Away, then the e-mail setting; each says it was saved, and the page keeps it.
        page.check("#availability-form input[name=away]")
        page.click("#availability-form button[type=submit]")
        expect(page.locator(".flash-area .flash")).to_contain_text("suggests other people")
        expect(page.locator("#availability-form input[name=away]")).to_be_checked()

        page.fill("#email", f"{handle}@example.org")
        page.select_option("#email-setting", "weekly")
        page.click("#notifications-form button[type=submit]")
        expect(page.locator(".flash-area .flash")).to_contain_text("a weekly digest")
        page.reload()
        expect(page.locator("#email-setting")).to_have_value("weekly")
        expect(page.locator(".flash-area .flash")).to_have_count(0)  # said once
        assert_fits(page, "after saving")
        assert errors == []
    finally:
        context.close()
