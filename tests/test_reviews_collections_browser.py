"""Review schedules and collections in headless Chromium against a real `kb serve`, at a
desktop size and at 390×844: a new article in Upcoming, its schedule changed and a review
recorded with the next date said; a collection made with the search-to-add picker, an
entry added from its page, items moved without JavaScript's help, the collection deleted
after its confirmation."""

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import copy_home
from tests.web_helpers import DEMO_PASSWORD, running_server

VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
# A solved case per viewport to write an article from, and words that find another one.
SOURCE = {"desktop": "MNT-P-001", "phone": "ITS-P-001"}
PICK = {
    "desktop": ("alarm 25201 after warm-up", "MNT-P-001"),
    "phone": ("VPN 0x80070005", "ITS-P-001"),
}


@pytest.fixture(scope="module")
def base_url(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("reviews-collections-browser") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


@pytest.fixture(params=list(VIEWPORTS))
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def signed_in(browser: Browser, base_url: str, size: str) -> Iterator[Callable[[str], Page]]:
    contexts = []
    width, height = VIEWPORTS[size]

    def open_page(handle: str) -> Page:
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/signin")
        page.fill("#handle", handle)
        page.fill("#password", DEMO_PASSWORD)
        page.click("form.stacked button[type=submit]")
        page.wait_for_load_state()
        return page

    yield open_page
    for context in contexts:
        context.close()


# What sticks out past the right edge (for the failure message).
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className)"""


def fits_the_screen(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(WIDEST) if overflow > 0 else []
    assert overflow <= 0, f"the page is {overflow}px wider than the screen: {wide}"


def test_a_new_article_is_upcoming_its_schedule_changes_and_a_review_says_the_next_date(
    signed_in: Callable[[str], Page], size: str
) -> None:
    page = signed_in("grace.okafor")
    page.goto(f"/repertoire/new?source={SOURCE[size]}")
    title = f"Repertoire article ({size})"
    page.fill("#title", title)
    page.fill("#review_interval_days", "200")
    page.click("form.stacked button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("first review by")

    page.goto("/reviews")
    page.get_by_role("link", name="Upcoming", exact=True).first.click()
    row = page.locator("tr.upcoming-item", has_text=title)
    expect(row).to_be_visible()
    fits_the_screen(page)

    row.get_by_role("link", name="Change schedule").click()
    page.select_option("#owner", "lena.hoffmann")
    page.fill("#next_review_on", "2031-03-14")
    page.click("form.stacked button[type=submit]")
    expect(page.get_by_role("status")).to_contain_text("Lena Hoffmann, next review on 14 Mar 2031")
    expect(page.locator(".provenance")).to_contain_text("next by 14 Mar 2031")
    fits_the_screen(page)

    page.goto("/reviews?view=upcoming")
    row = page.locator("tr.upcoming-item", has_text=title)
    expect(row.locator(".next-review")).to_have_text("14 Mar 2031")
    row.get_by_role("button", name="Record review").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text(f"Review recorded (confirmed) for “{title}”; next review on")
    expect(page).to_have_url(re.compile(r"/reviews\?view=upcoming$"))


def test_a_collection_made_with_the_picker_filled_from_an_entry_reordered_and_deleted(
    signed_in: Callable[[str], Page], size: str
) -> None:
    words, first = PICK[size]
    page = signed_in("grace.okafor")
    page.goto("/collections/new")
    title = f"Booklet ({size})"
    page.fill("#title", title)
    page.fill("#picker-q", words)  # the picker asks /api/search as one types
    hit = page.locator(".picker-hit").filter(
        has=page.locator(".meta", has_text=re.compile(f"^{first}$"))
    )
    hit.get_by_role("button", name="Add").click()
    expect(page.locator("#picker-chosen")).to_contain_text(first)
    expect(page.locator("#entries")).to_have_value(first)
    fits_the_screen(page)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("Collection created")
    collection_url = page.url

    page.goto("/entries/MNT-P-002")
    page.select_option("#add-to-collection", label=title)
    page.locator("form.add-to-collection").get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text(f"to “{title}”")
    fits_the_screen(page)

    page.goto(collection_url)
    page.get_by_role("link", name="Edit").click()
    items = page.locator(".collection-item")
    expect(items).to_have_count(2)
    expect(items.first).to_have_attribute("data-entry", first)
    items.nth(1).locator("button.move-up").click()  # a plain form: works without JavaScript
    expect(page.get_by_role("status")).to_contain_text("Moved")
    expect(page.locator(".collection-item").first).to_have_attribute("data-entry", "MNT-P-002")
    fits_the_screen(page)

    page.fill("#picker-q", "hydraulic press drifts down")  # the editor's picker posts Add
    page.locator(".picker-hit").first.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_contain_text("Added")
    expect(page.locator(".collection-item")).to_have_count(3)

    page.locator(".delete-collection summary").click()
    page.get_by_role("button", name=f"Yes, delete “{title}”").click()
    expect(page.get_by_role("status")).to_contain_text(f"Deleted the collection “{title}”")
    assert page.goto(collection_url).status == 404  # type: ignore[union-attr]
