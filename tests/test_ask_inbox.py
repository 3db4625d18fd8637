"""The Ask page's live suggestions (issue 17, point 6) and the inbox (point 11): the
chosen community, labels that say how far a case got, "This answers my question",
Pass on through a people picker with its errors in place, excerpts, and a Done section.
The browser half (loading cue, typing, the button) is tests/test_ask_browser.py."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.models import Entry, Feedback, FeedbackKind, SearchLog, utcnow
from kb.search_log import failed_searches
from kb.settings import Settings
from tests.web_helpers import SignedIn, csrf_from
from web.app import create_app

# Paraphrases MNT-P-001 (SINUMERIK alarm 25201, solved: MNT-S-001-2 accepted).
LATHE = {
    "title": "Our lathe halts with a drive alarm once it has warmed up",
    "body": "Cold in the morning it runs fine; after an hour the X axis drive faults.",
}
# Paraphrases MNT-P-010 (compressor K1 cuts out on hot afternoons): one solution, none
# accepted.
COMPRESSOR = {
    "title": "Compressor trips on hot afternoons and the press line loses air",
    "body": "Every warm afternoon the compressor cuts out and the presses lose pressure.",
}


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


def similar(person: SignedIn, draft: dict[str, str], community: str | None) -> dict:  # type: ignore[type-arg]
    response = person.post("/api/similar", {**draft, "community": community})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_suggestions_are_limited_to_the_chosen_community(app: object) -> None:
    tomas = SignedIn(app, "tomas.novak")
    everywhere = similar(tomas, LATHE, None)
    assert everywhere["community"] is None
    assert everywhere["cases"][0]["id"] == "MNT-P-001"
    maintenance = similar(tomas, LATHE, "maintenance")
    assert maintenance["community"] == "maintenance"
    assert maintenance["cases"] and {c["community"] for c in maintenance["cases"]} == {
        "maintenance"
    }
    it = similar(tomas, LATHE, "it-support")
    assert "MNT-P-001" not in {c["id"] for c in it["cases"]}
    assert {c["community"] for c in it["cases"]} <= {"it-support"}
    # The search log knows where the draft was looked up.
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        row = session.get(SearchLog, it["log_id"])
        assert row is not None and row.community == "it-support"


def test_an_unknown_or_hidden_community_is_a_clear_422(app: object) -> None:
    tomas = SignedIn(app, "tomas.novak")
    response = tomas.post("/api/similar", {**LATHE, "community": "no-such-place"})
    assert response.status_code == 422
    assert "no community 'no-such-place'" in response.json()["error"]["message"]


def test_solved_by_only_with_an_accepted_solution(app: object) -> None:
    tomas = SignedIn(app, "tomas.novak")
    cases = {c["id"]: c for c in similar(tomas, LATHE, "maintenance")["cases"]}
    solved = cases["MNT-P-001"]
    assert solved["answer"] == "solved" and solved["accepted_solution"] is not None
    accepted_author = solved["solved_by"][0]["name"]
    assert solved["label"] == f"Solved by {accepted_author}"

    cases = {c["id"]: c for c in similar(tomas, COMPRESSOR, "maintenance")["cases"]}
    proposed = cases["MNT-P-010"]
    assert proposed["accepted_solution"] is None and proposed["solved_by"] == []
    assert proposed["answer"] == "proposed"
    assert proposed["label"] == "Open — 1 answer proposed, none accepted yet"
    assert not proposed["label"].startswith("Solved")


def post_problem(person: SignedIn, problem: dict[str, str]) -> str:
    response = person.post("/api/problems", {**problem, "community": "maintenance"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# A problem nobody has answered: nothing like it in the demo but itself.
GEARBOX = {
    "title": "Palletiser gearbox G7 howls and leaks oil at the output shaft seal",
    "body": "Since the weekend the palletiser gearbox G7 howls under load and drips oil "
    "from the output shaft seal onto the floor. " + "We topped it up twice. " * 20,
}


def test_an_open_case_says_no_answer_yet_then_who_works_on_it(app: object) -> None:
    tomas, marta = SignedIn(app, "tomas.novak"), SignedIn(app, "marta.kowalski")
    problem = post_problem(tomas, GEARBOX)
    leon = SignedIn(app, "leon.fischer")
    case = next(c for c in similar(leon, GEARBOX, "maintenance")["cases"] if c["id"] == problem)
    assert (case["answer"], case["label"]) == ("open", "Open, no answer yet")

    routed = tomas.post(f"/api/problems/{problem}/route", {"people": ["marta.kowalski"]})
    assert routed.status_code == 201, routed.text
    assert marta.post(f"/api/routings/{routed.json()[0]['id']}/take").status_code == 200
    case = next(c for c in similar(leon, GEARBOX, "maintenance")["cases"] if c["id"] == problem)
    assert case["answer"] == "working"
    assert case["label"] == "Open — Marta Kowalski is working on it"
    assert case["working_on"] == ["Marta Kowalski"]


def problem_count(app: object) -> int:
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        return len(list(session.scalars(select(Entry.id).where(Entry.kind == "problem"))))


def test_this_answers_my_question_counts_the_reuse_and_the_search_not_as_failed(
    app: object,
) -> None:
    tomas = SignedIn(app, "tomas.novak")
    found = similar(tomas, LATHE, "maintenance")
    solved = next(c for c in found["cases"] if c["id"] == "MNT-P-001")
    before = problem_count(app)
    response = tomas.client.post(
        "/ask/answered",
        data={
            "csrf_token": tomas.headers["X-CSRF-Token"],
            "case": "MNT-P-001",
            "s": found["log_id"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    solution = solved["accepted_solution"]["id"]
    assert response.headers["location"] == f"/entries/MNT-P-001#{solution}"
    page = tomas.client.get(response.headers["location"]).text
    assert "Glad it answers your question" in page and "Your draft was not posted" in page
    assert problem_count(app) == before  # the draft was not posted

    with app.state.database.session() as session:  # type: ignore[attr-defined]
        reuse = session.scalars(
            select(Feedback)
            .join(Entry, Entry.id == Feedback.entry_id)
            .where(Entry.external_id == solution, Feedback.kind == FeedbackKind.REUSE)
        ).all()
        assert len(reuse) == 1
        row = session.get(SearchLog, found["log_id"])
        assert row is not None and row.answered_entry_id is not None
        assert row.opened_entry_id == session.scalar(
            select(Entry.id).where(Entry.external_id == "MNT-P-001")
        )
        # However weak its best hit, an answered draft is no failed search.
        since = utcnow() - timedelta(hours=1)
        assert row.id not in {f.id for f in failed_searches(session, 1.01, since)}
    # The next draft starts a new row: the answered one is finished.
    again = similar(tomas, COMPRESSOR, "maintenance")
    assert again["log_id"] != found["log_id"]


def test_this_answers_my_question_needs_an_accepted_solution_and_a_sign_in(
    app: object,
) -> None:
    tomas = SignedIn(app, "tomas.novak")
    response = tomas.client.post(
        "/ask/answered",
        data={"csrf_token": tomas.headers["X-CSRF-Token"], "case": "MNT-P-010"},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "has no accepted solution yet" in response.text
    anonymous = TestClient(app)  # type: ignore[arg-type]
    response = anonymous.post("/ask/answered", data={"case": "MNT-P-001"}, follow_redirects=False)
    assert response.status_code == 401  # sign in first


# -- the inbox ------------------------------------------------------------------------


def routed_to_marta(app: object) -> tuple[SignedIn, SignedIn, str, int]:
    tomas, marta = SignedIn(app, "tomas.novak"), SignedIn(app, "marta.kowalski")
    problem = post_problem(tomas, GEARBOX)
    routed = tomas.post(f"/api/problems/{problem}/route", {"people": ["marta.kowalski"]})
    assert routed.status_code == 201, routed.text
    return tomas, marta, problem, int(routed.json()[0]["id"])


def card(html: str, routing_id: int) -> str:
    match = re.search(rf'<article [^>]*id="request-{routing_id}">(.*?)</article>', html, re.S)
    assert match, f"no card for request {routing_id}"
    return match.group(1)


def test_an_inbox_card_shows_an_excerpt_and_no_redundant_byline(app: object) -> None:
    _tomas, marta, _problem, routing_id = routed_to_marta(app)
    shown = card(marta.client.get("/inbox").text, routing_id)
    excerpt = re.search(r'<p class="inbox-excerpt">([^<]*)</p>', shown)
    assert excerpt, shown
    text = excerpt.group(1)
    assert text.startswith("Since the weekend the palletiser gearbox G7 howls")
    assert 150 <= len(text) <= 201 and text.endswith("…")
    assert shown.count("Tomás Novák") == 1  # asked by the asker: said once


def test_pass_on_picks_from_people_and_a_typo_shows_the_inbox_again(app: object) -> None:
    _tomas, marta, _problem, routing_id = routed_to_marta(app)
    page = marta.client.get("/inbox").text
    picker = card(page, routing_id)
    assert f'list="pass-people-{routing_id}"' in picker
    options = re.findall(r'<option value="([^"]+)" label="([^"]*)"', picker)
    handles = [handle for handle, _label in options]
    assert "priya.nair" in handles and "jonas.weber" in handles
    assert "marta.kowalski" not in handles and "tomas.novak" not in handles  # me, the asker
    suggested = [handle for handle, label in options if "suggested" in label]
    assert suggested and handles[: len(suggested)] == suggested  # suggested people first

    token = csrf_from(page)
    typo = marta.client.post(
        f"/routings/{routing_id}/pass", data={"csrf_token": token, "to": "priya.nai"}
    )
    assert typo.status_code == 422
    again = card(typo.text, routing_id)
    assert "Not passed on: nobody is called &#39;priya.nai&#39;: did you mean priya.nair?" in again
    assert 'value="priya.nai"' in again and 'aria-invalid="true"' in again
    assert "<h1>Asked of you</h1>" in typo.text  # the inbox, not an error page

    done = marta.client.post(
        f"/routings/{routing_id}/pass", data={"csrf_token": token, "to": "Priya Nair"}
    )
    assert done.status_code == 200 and "Passed on to Priya Nair" in done.text
    summary = re.search(r'<details class="inbox-done"[^>]*>\s*<summary>Done \((\d+)\)', done.text)
    assert summary and summary.group(1) == "1"
    done_section = done.text[done.text.index('<details class="inbox-done"') :]
    assert f'id="request-{routing_id}"' in done_section
    assert (
        f'id="request-{routing_id}"'
        not in done.text[: done.text.index('<details class="inbox-done"')]
    )
    assert f'action="/routings/{routing_id}/pass"' not in done.text  # nothing left to do
