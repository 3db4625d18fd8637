"""The Ask page's live suggestions in headless Chromium, at desktop size and on a phone
(390×844), against a real `kb serve`: the chosen community, labels, the loading cue
while typing goes on, and "This answers my question"."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import copy_home
from tests.web_helpers import browser_sign_in, running_server

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# Who asks at each size (each marks a reuse once).
ASKER = {"desktop": "tomas.novak", "phone": "leon.fischer"}
LATHE = "lathe throws a servo fault once it has run an hour and is warm"
# Records, in the page, each time the suggestions change and whether the cue showed.
WATCH = """() => {
  window.kbSeen = {updates: [], busy: 0, cue: 0};
  const results = document.getElementById("similar-results");
  const panel = document.getElementById("similar");
  new MutationObserver(() => window.kbSeen.updates.push(performance.now()))
    .observe(results, {attributes: true, attributeFilter: ["data-updated-at"]});
  new MutationObserver(() => {
    if (panel.getAttribute("aria-busy") === "true") {
      window.kbSeen.busy += 1;
      if (!document.getElementById("similar-status").hidden) window.kbSeen.cue += 1;
    }
  }).observe(panel, {attributes: true, attributeFilter: ["aria-busy"]});
}"""


@pytest.fixture(scope="module")
def base_url(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ask-browser") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home) as base:
        yield base


@pytest.fixture(params=list(VIEWPORTS))
def asking(request: pytest.FixtureRequest, browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport=VIEWPORTS[request.param])
    page = context.new_page()
    browser_sign_in(page, ASKER[request.param])
    page.goto("/ask")
    yield page
    context.close()


def test_suggestions_follow_the_community_and_label_open_cases(asking: Page) -> None:
    page = asking
    expect(page.locator("#community")).to_have_value("maintenance")
    page.fill("#ask-title", LATHE)
    solved = page.locator("#similar-results .case", has_text="SINUMERIK alarm 25201")
    expect(solved).to_be_visible(timeout=15_000)
    expect(solved.locator(".progress")).to_have_text("Solved by Marta Kowalski")
    expect(solved.get_by_role("button", name="This answers my question")).to_be_visible()

    page.select_option("#community", "it-support")
    expect(page.locator("#similar-results")).to_have_attribute("data-community", "it-support")
    expect(solved).to_have_count(0)

    page.select_option("#community", "maintenance")
    page.fill("#ask-title", "compressor cuts out on hot afternoons, the press line loses air")
    open_case = page.locator("#similar-results .case", has_text="Compressor K1")
    expect(open_case).to_be_visible(timeout=15_000)
    expect(open_case.locator(".progress")).to_have_text(
        "Open — 1 answer proposed, none accepted yet"
    )
    expect(open_case.get_by_role("button", name="This answers my question")).to_have_count(0)


def test_typing_on_shows_the_cue_and_keeps_the_suggestions_coming(asking: Page) -> None:
    page = asking
    page.evaluate(WATCH)
    started = page.evaluate("performance.now()")
    page.locator("#ask-title").press_sequentially(
        "the lathe throws a servo fault once it has run for an hour and is warm", delay=45
    )
    stopped = page.evaluate("performance.now()")
    seen = page.evaluate("window.kbSeen")
    during = [at for at in seen["updates"] if at < stopped]
    gaps = [b - a for a, b in zip([started, *during], during, strict=False)]
    print(
        f"\nAsk while typing for {stopped - started:.0f} ms: {len(during)} updates, "
        f"gaps {[round(g) for g in gaps]} ms"
    )
    assert len(during) >= 2, seen  # not only after the typing stopped
    assert max(gaps) < 1500, gaps  # about every 600 ms, with room for a busy machine
    assert seen["busy"] >= 1 and seen["cue"] >= 1, seen
    expect(page.locator("#similar-status")).to_be_hidden(timeout=15_000)  # all answered
    assert page.locator("#similar").get_attribute("aria-busy") is None


def test_this_answers_my_question_opens_the_case_without_posting(asking: Page) -> None:
    page = asking
    page.fill("#ask-title", LATHE)
    solved = page.locator("#similar-results .case", has_text="SINUMERIK alarm 25201")
    expect(solved).to_be_visible(timeout=15_000)
    solved.get_by_role("button", name="This answers my question").click()
    page.wait_for_url("**/entries/MNT-P-001#*")
    expect(page.locator(".flash, [role=status]").first).to_contain_text(
        "Glad it answers your question"
    )
    assert page.evaluate("sessionStorage.getItem('kb-ask-draft')") is None
    page.goto("/ask")
    expect(page.locator("#ask-title")).to_have_value("")  # the draft is not brought back
