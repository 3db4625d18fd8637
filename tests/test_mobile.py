"""Every page on a phone (Chromium at 390×844) and from the keyboard, against a real
`kb serve` holding a private copy of the demo.

One browser context per demo role, signed in once and reused by every test; the module
first makes what some pages need to show (a repertoire article, a collection, an edit,
a problem routed to someone) through the pages themselves."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.conftest import copy_home
from tests.web_helpers import browser_sign_in, running_server

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
# The demo's roles: a worker, a community leader, a tutor, a knowledge manager.
ROLES = {
    "worker": "leon.fischer",
    "leader": "marta.kowalski",
    "tutor": "peter.lindqvist",
    "manager": "grace.okafor",
    "visitor": None,
}
SEARCH = "/search?q=compressor+cuts+out+when+it+is+hot"
# Measured: 11 Tabs from loading the search page to its first result for a worker (skip
# link, brand, search box, the header's seven links, then the result); 32 when the
# filters' links came first.
MAX_TABS_TO_FIRST_RESULT = 12
ROUTED_TITLE = "Lathe L4 X axis drive trips once the machine is warm"


@dataclass
class Made:
    """What the module made so that every kind of page has something to show."""

    article: str
    collection: str
    routed_problem: str


@pytest.fixture(scope="module")
def base_url(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("mobile") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


@pytest.fixture(scope="module")
def phones(browser: Browser, base_url: str) -> Iterator[dict[str, Page]]:
    """One phone-sized page per role, signed in (the visitor is not)."""
    contexts = []
    pages = {}
    for role, handle in ROLES.items():
        context = browser.new_context(base_url=base_url, viewport=PHONE)
        contexts.append(context)
        page = context.new_page()
        if handle:
            browser_sign_in(page, handle)
        pages[role] = page
    yield pages
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def made(phones: dict[str, Page]) -> Made:
    grace, leon = phones["manager"], phones["worker"]
    grace.goto("/repertoire/new?source=MNT-P-001")
    grace.fill("#cause", "Coolant mist in the DRIVE-CLiQ connector of the X axis encoder.")
    grace.fill("#review_interval_days", "7")
    grace.click("form.stacked button[type=submit]")
    expect(grace.locator("aside.provenance")).to_be_visible()
    article = grace.url.rsplit("/", 1)[1]

    grace.goto("/collections/new")
    grace.fill("#title", "Faults that appear when things warm up")
    grace.fill("#introduction", "Two cases where **what changed** was the clue.")
    grace.fill("#entries", f"{article} MNT-P-001 ITS-P-001")
    grace.fill("#questions", "What changed just before?\nWhat would you check first?")
    grace.click("form.stacked button[type=submit]")
    expect(grace.locator("h1")).to_have_text("Faults that appear when things warm up")
    collection = grace.url.rsplit("/", 1)[1]

    leon.goto("/entries/MNT-P-001/edit")  # his own problem: the history gets a diff
    leon.fill(
        "#body", leon.locator("#body").input_value() + "\n\nUpdate: it happened on L4 as well."
    )
    leon.click("form.stacked button[type=submit]")
    expect(leon.locator("article.entry")).to_contain_text("it happened on L4 as well")

    leon.goto("/ask")
    leon.fill("#ask-title", ROUTED_TITLE)
    leon.fill("#ask-body", "Cold in the morning it runs; after an hour the X drive faults.")
    leon.select_option("#community", "maintenance")
    leon.click("#ask-submit")
    expect(leon.locator("h1")).to_have_text(ROUTED_TITLE)
    routed_problem = leon.url.split("#")[0].rsplit("/", 1)[1]
    leon.locator("section.routing input[type=checkbox][value='marta.kowalski']").check()
    leon.click("section.routing button[type=submit]")
    expect(leon.locator("section.routing")).to_contain_text("Marta Kowalski")
    return Made(article=article, collection=collection, routed_problem=routed_problem)


# (role, path, status): every page the routes render, as the roles that see them.
PAGES = [
    ("visitor", "/", 200),
    ("visitor", "/signin", 200),
    ("visitor", SEARCH, 200),
    ("visitor", "/entries/MNT-P-001", 200),
    ("visitor", "/ask", 200),
    ("worker", "/", 200),
    ("worker", SEARCH, 200),
    ("worker", "/search?q=lathe&tag=lathe", 200),  # a filter chip and a Follow button
    ("worker", "/search?q=qqzx+wvvy", 200),  # nothing found
    ("worker", "/search?q=", 400),
    ("worker", "/entries/MNT-P-001", 200),  # a problem, as its asker sees it
    ("worker", "/entries/MNT-S-001-1", 200),  # a solution
    ("worker", "/entries/MNT-G-001", 200),  # a good practice
    ("worker", "/entries/{article}", 200),  # a repertoire article
    ("worker", "/entries/{routed_problem}", 200),  # an open problem, routed
    ("worker", "/entries/MNT-P-001/revisions", 200),
    ("worker", "/entries/MNT-P-001/edit", 200),
    ("worker", "/entries/MNT-P-999", 404),
    ("worker", "/no/such/page", 404),
    ("worker", "/people/marta.kowalski", 200),
    ("worker", "/people/fatima.zahra", 200),  # the longest name
    ("worker", "/communities/maintenance", 200),
    ("worker", "/ask", 200),
    ("worker", "/capture", 200),
    ("worker", "/inbox", 200),
    ("worker", "/account", 200),
    ("worker", "/repertoire", 200),
    ("worker", "/reviews", 200),
    ("worker", "/collections/{collection}", 200),
    ("worker", "/collections/{collection}/booklet.html", 200),
    ("worker", "/console", 403),
    ("worker", "/docs", 200),
    ("leader", "/inbox", 200),  # a request with Take, Decline and Pass on
    ("leader", "/console", 200),
    ("tutor", "/console?weeks=104", 200),
    ("tutor", "/inbox", 200),
    ("manager", "/repertoire", 200),  # candidates and near-duplicates
    ("manager", "/reviews", 200),
    ("manager", "/repertoire/new?source=MNT-P-002", 200),
    ("manager", "/collections/new", 200),
    ("manager", "/entries/{article}", 200),  # its lifecycle buttons
    ("manager", "/entries/MNT-P-001", 200),
    ("manager", "/console", 200),
]


@pytest.mark.parametrize(("role", "path", "status"), PAGES, ids=[f"{r}:{p}" for r, p, _ in PAGES])
def test_no_page_scrolls_sideways_on_a_phone(
    phones: dict[str, Page], made: Made, role: str, path: str, status: int
) -> None:
    page = phones[role]
    response = page.goto(path.format(**vars(made)))
    assert response is not None and response.status == status
    if path == "/docs":
        expect(page.locator(".swagger-ui .info")).to_be_visible()  # drawn by its script
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    if width > viewport:
        wider = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                 .filter(node => node.getBoundingClientRect().right > innerWidth + 0.5)
                 .slice(0, 5).map(node => node.tagName + '.' + node.getAttribute('class'))"""
        )
        pytest.fail(f"{path} is {width} px wide on a {viewport} px screen: {wider}")


@pytest.mark.parametrize("role", ["worker", "manager"])
def test_the_header_keeps_inbox_name_and_sign_out_on_screen(
    phones: dict[str, Page], role: str
) -> None:
    page = phones[role]
    page.goto(SEARCH)
    for target in (
        page.locator("a.inbox-link"),
        page.locator("a.me"),
        page.get_by_role("button", name="Sign out"),
    ):
        box = target.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
    search = page.locator(".top-search input").bounding_box()
    assert search is not None and search["width"] >= 0.75 * PHONE["width"], search


def test_the_first_search_result_is_on_the_first_screen(phones: dict[str, Page]) -> None:
    page = phones["worker"]
    page.goto(SEARCH)
    first = page.locator(".hit-title").first.bounding_box()
    assert first is not None
    print(f"\nphone: the first result's title starts {first['y']:.0f} px from the top")
    assert first["y"] + first["height"] <= PHONE["height"]


def test_the_filters_stay_left_of_the_results_on_a_wide_screen(
    browser: Browser, base_url: str
) -> None:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(SEARCH)
        facets = page.locator("aside.facets").bounding_box()
        results = page.locator("section.results").bounding_box()
        assert facets is not None and results is not None
        assert facets["x"] + facets["width"] <= results["x"]
        assert abs(facets["y"] - results["y"]) < 5  # side by side, not under each other
    finally:
        context.close()


def test_the_skip_link_comes_first_shows_on_focus_and_leads_to_the_content(
    phones: dict[str, Page],
) -> None:
    page = phones["worker"]
    page.goto(SEARCH)
    skip = page.locator("a.skip-link")
    expect(skip).to_have_text("Skip to content")
    assert not skip.evaluate("node => node.getBoundingClientRect().bottom > 0")  # out of sight
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    assert page.evaluate("document.activeElement.tagName") == "MAIN"
    page.keyboard.press("Tab")
    expect(page.locator(".hit-title").first).to_be_focused()


def test_few_tabs_reach_the_first_search_result(phones: dict[str, Page]) -> None:
    page = phones["worker"]
    page.goto(SEARCH)
    first = page.locator(".hit-title").first
    tabs = 0
    while not first.evaluate("node => node === document.activeElement"):
        assert tabs < 60, "Tab never reached the first result"
        page.keyboard.press("Tab")
        tabs += 1
    print(f"\n{tabs} Tabs from loading the search page to its first result")
    assert tabs <= MAX_TABS_TO_FIRST_RESULT


def test_slash_goes_to_the_search_box_but_not_while_typing(phones: dict[str, Page]) -> None:
    page = phones["worker"]
    page.goto("/entries/MNT-S-001-1")
    page.keyboard.press("/")
    search = page.locator(".top-search input")
    expect(search).to_be_focused()
    expect(search).to_have_value("")  # the "/" was not typed into it
    comment = page.locator("#comment-form textarea")
    comment.click()
    page.keyboard.type("12/24 V")
    expect(comment).to_be_focused()
    expect(comment).to_have_value("12/24 V")


def test_ask_shows_a_suggestion_under_the_title_while_typing_on_a_phone(
    phones: dict[str, Page],
) -> None:
    page = phones["worker"]
    page.goto("/ask")
    title = page.locator("#ask-title")
    title.press_sequentially("lathe throws a servo fault once it has run an hour", delay=15)
    suggestion = page.locator("#similar-peek li a").first
    expect(suggestion).to_be_visible(timeout=15_000)
    expect(title).to_be_focused()
    for box in (title.bounding_box(), suggestion.bounding_box()):
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"]
    expect(page.locator("#similar-peek a[href='#similar']")).to_contain_text("similar cases")
