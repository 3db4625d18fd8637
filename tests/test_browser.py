"""The web app in headless Chromium (Debian's, through Playwright) against a real
`kb serve` process holding a private copy of the demo."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import copy_home
from tests.web_helpers import browser_sign_in, running_server


@pytest.fixture(scope="module")
def base_url(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("browser") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


@pytest.fixture
def new_page(browser: Browser, base_url: str) -> Iterator[object]:
    contexts = []

    def open_page(handle: str | None = None) -> Page:
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        if handle:
            browser_sign_in(page, handle)
        return page

    yield open_page
    for context in contexts:
        context.close()


def test_ask_suggests_the_matching_past_case_while_typing(new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page("tomas.novak")
    page.goto("/ask")
    # A paraphrase of MNT-P-001 "SINUMERIK alarm 25201 on lathe L3 after warm-up"
    page.locator("#ask-title").press_sequentially(
        "lathe throws a servo fault once it has run an hour and is warm", delay=20
    )
    typed_at = page.evaluate("performance.now()")
    case = page.locator("#similar-results .case", has_text="SINUMERIK alarm 25201")
    expect(case).to_be_visible(timeout=15_000)
    # Cases may show while typing (tests/test_ask_browser.py); the last lookup is for the
    # whole title, sent after the typing pause.
    expect(page.locator("#similar-status")).to_be_hidden(timeout=15_000)
    shown_at = float(page.locator("#similar-results").get_attribute("data-updated-at") or 0)
    assert shown_at > typed_at
    print(
        f"\nAsk: suggestions {shown_at - typed_at:.0f} ms after the last keystroke "
        "(up to 300 ms of it is the typing pause kb waits for)"
    )
    expect(case.locator(".accepted")).to_contain_text("Accepted solution")
    expect(page.locator("#expert-results .expert").first).to_be_visible()
    assert "Tomás Novák" not in page.locator("#expert-results").inner_text()
    assert page.url.endswith("/ask")  # nothing was submitted


def test_post_solve_accept_then_search_shows_it_solved(new_page) -> None:  # type: ignore[no-untyped-def]
    title = "Hall crane pendant loses radio link near bay 7"
    leon = new_page("leon.fischer")
    leon.goto("/ask")
    leon.fill("#ask-title", title)
    leon.fill("#ask-body", "The crane stops and the pendant shows LINK LOST, only near bay 7.")
    leon.select_option("#community", "maintenance")
    leon.click("#ask-submit")
    expect(leon.locator("h1")).to_have_text(title)
    expect(leon.locator("article.entry .badge-open")).to_be_visible()
    problem_url = leon.url

    priya = new_page("priya.nair")
    priya.goto(problem_url)
    priya.fill(
        "#solution-form textarea",
        "The new welding screen at bay 7 blocks the antenna; move the receiver to the column.",
    )
    priya.click("#solution-form button[type=submit]")
    expect(priya.locator("article.solution")).to_contain_text("welding screen")
    expect(priya.locator("button.accept")).to_have_count(0)  # not her problem

    leon.reload()
    leon.click("button.accept")
    expect(leon.locator("article.entry .badge-solved")).to_be_visible()
    expect(leon.locator("article.solution.is-accepted")).to_contain_text("welding screen")

    leon.goto("/search?q=crane+pendant+radio+link")
    first = leon.locator(".hit").first
    expect(first).to_contain_text(title)
    expect(first.locator(".badge-solved")).to_be_visible()


def test_a_worker_cannot_accept_on_someone_elses_problem(new_page) -> None:  # type: ignore[no-untyped-def]
    priya = new_page("priya.nair")
    priya.goto("/entries/MNT-P-001")  # asked by leon.fischer
    expect(priya.locator("article.solution").first).to_be_visible()
    expect(priya.locator("button.accept")).to_have_count(0)
    token = priya.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = priya.request.post(
        "/entries/MNT-S-001-2/accept",
        form={"csrf_token": token or ""},
        headers={"accept": "text/html"},
    )
    assert forged.status == 403
    assert "only the person who asked this problem" in forged.text()


def test_an_open_problem_is_routed_taken_and_shown_as_being_worked_on(new_page) -> None:  # type: ignore[no-untyped-def]
    tomas = new_page("tomas.novak")
    tomas.goto("/ask")
    tomas.fill("#ask-title", "Lathe L2 X axis drive faults after an hour of running")
    tomas.fill("#ask-body", "Fine in the morning; once warm the X drive trips.")
    tomas.select_option("#community", "maintenance")
    tomas.click("#ask-submit")
    who = tomas.locator("section.routing .expert")
    expect(who.first).to_contain_text("Marta Kowalski")
    expect(who.first).to_contain_text("solved")
    for box in tomas.locator("section.routing input[type=checkbox]").all():
        box.check()
    tomas.click("section.routing button[type=submit]")
    expect(tomas.locator("section.routing .asked")).to_contain_text("asked, no answer yet")
    problem_url = tomas.url.split("#")[0]

    marta = new_page("marta.kowalski")
    expect(marta.locator(".inbox-link .unread")).to_have_text("1")
    marta.click(".inbox-link")
    request = marta.locator("article.request").first
    expect(request).to_contain_text("Lathe L2 X axis drive faults")
    expect(request).to_contain_text("Why you: you solved")
    request.locator("button.take").click()
    expect(marta.locator(".working-on")).to_contain_text("Being worked on by Marta Kowalski")

    tomas.goto(problem_url)
    expect(tomas.locator(".working-on")).to_contain_text("Marta Kowalski")


def test_the_console_renders_its_charts_for_a_tutor(new_page) -> None:  # type: ignore[no-untyped-def]
    worker = new_page("tomas.novak")
    for query in ("paint booth filter clogs in two days", "spray booth filters block quickly"):
        worker.goto(f"/search?q={query.replace(' ', '+')}")
    worker.goto("/console")
    expect(worker.locator("h1")).to_have_text("You cannot do that")  # 403 for a worker

    tutor = new_page("peter.lindqvist")
    tutor.goto("/console?weeks=104")
    expect(tutor.locator("svg.chart")).to_have_count(3)
    expect(tutor.locator("svg.chart rect.bar").first).to_be_attached()
    expect(tutor.locator("tr.gap").first).to_be_visible()
    expect(tutor.locator("#gaps")).to_contain_text("booth")


def test_a_manager_writes_an_article_and_a_booklet_that_renders(new_page) -> None:  # type: ignore[no-untyped-def]
    grace = new_page("grace.okafor")
    grace.goto("/entries/ITS-P-001")
    grace.click("text=Write a repertoire article from this case")
    expect(grace.locator("#sources")).to_have_value("ITS-P-001")
    grace.fill("#title", "VPN: Authentication failed (0x80070005) after a password change")
    grace.fill("#cause", "The cached VPN credentials still hold the old password.")
    grace.fill("#applies_when", "GlobalProtect on company laptops.")
    grace.fill("#review_interval_days", "90")
    grace.click("form.stacked button[type=submit]")
    expect(grace.locator("aside.provenance")).to_contain_text("Distilled from")
    article_id = grace.url.rsplit("/", 1)[1]

    grace.goto("/collections/new")
    grace.fill("#title", "Remote access: a case study")
    grace.fill("#introduction", "Three ways a **VPN** login fails.")
    grace.fill("#entries", f"{article_id} ITS-P-001")
    grace.fill("#questions", "What do you check first?\nWhen do you call IT?")
    grace.click("form.stacked button[type=submit]")
    expect(grace.locator("h1")).to_have_text("Remote access: a case study")

    errors: list[str] = []
    grace.on("pageerror", lambda error: errors.append(str(error)))
    grace.click("text=Booklet (HTML)")
    expect(grace.locator("article.booklet h1")).to_have_text("Remote access: a case study")
    expect(grace.locator("section.part")).to_have_count(2)
    expect(grace.locator("section.questions li")).to_have_count(2)
    expect(grace.locator(".introduction strong")).to_have_text("VPN")
    assert errors == []
