"""Attachments and the Markdown preview in headless Chromium against a real `kb serve`,
at phone size (390×844): attach an image to one's own problem and see it on the page;
the Preview button shows the text as the server renders it, and goes back to the text."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import copy_home
from tests.test_entries_attachments import png
from tests.web_helpers import DEMO_PASSWORD, running_server

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def base_url(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("entries-browser") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport=PHONE)
    page = context.new_page()
    page.goto("/signin")
    page.fill("#handle", "leon.fischer")
    page.fill("#password", DEMO_PASSWORD)
    page.click("form.stacked button[type=submit]")
    page.wait_for_load_state()
    yield page
    context.close()


def test_attach_an_image_on_a_phone_and_see_it(page: Page, tmp_path: Path) -> None:
    page.goto("/ask")
    page.fill("#ask-title", "Guard door switch reads open when closed")
    page.fill("#ask-body", "Since the door was realigned.")
    page.click("#ask-submit")
    page.wait_for_url("**/entries/**")
    photo = tmp_path / "switch.png"
    photo.write_bytes(png(24, 16, shade=180))
    form = page.locator("#attachments form.attach-form")
    form.locator("input[type=file]").set_input_files(str(photo))
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    image = page.locator("#attachments ul.attachments img")
    expect(image).to_be_visible()
    loaded = image.evaluate("img => img.complete && img.naturalWidth")
    assert loaded == 24  # the browser got and decoded the picture
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_preview_toggle_shows_the_rendered_text(page: Page) -> None:
    page.goto("/capture")
    page.fill("#body", "Check the **seal** first.\n\n<script>alert(1)</script>")
    toggle = page.locator("button.preview-toggle")
    toggle.click()
    preview = page.locator("#body-preview")
    expect(preview.locator("strong")).to_have_text("seal")
    expect(preview).to_contain_text("<script>alert(1)</script>")  # shown as text
    expect(page.locator("#body")).to_be_hidden()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(page.locator("#body")).to_be_visible()
    expect(preview).to_be_hidden()
