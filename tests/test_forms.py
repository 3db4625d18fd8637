"""The pages' forms: post, solve, accept, comment, capture, edit, with errors shown in
place and nothing the person typed lost."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kb.settings import Settings
from tests.web_helpers import sign_in
from web.app import create_app


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


def browser(app: object, handle: str) -> tuple[TestClient, str]:
    client = TestClient(app, headers={"accept": "text/html"})  # type: ignore[arg-type]
    return client, sign_in(client, handle)


def test_a_problem_is_asked_solved_and_accepted_through_the_pages(app: object) -> None:
    leon, leon_token = browser(app, "leon.fischer")
    posted = leon.post(
        "/ask",
        data={
            "csrf_token": leon_token,
            "title": "Label printer in dispatch prints blank labels",
            "body": "Since Monday the Zebra in dispatch feeds labels but prints nothing.",
            "tags": "printer, dispatch",
            "community": "it-support",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303
    problem_url = posted.headers["location"]
    page = leon.get(problem_url).text
    assert "Label printer in dispatch prints blank labels" in page and "badge-open" in page

    priya, priya_token = browser(app, "priya.nair")
    solved = priya.post(
        f"{problem_url}/solutions",
        data={"csrf_token": priya_token, "body": "The ribbon was in **inside-out**; turn it."},
        follow_redirects=False,
    )
    assert solved.status_code == 303 and "#" in solved.headers["location"]
    solution_id = solved.headers["location"].split("#")[1]
    assert "✔ Accept this solution" not in priya.get(problem_url).text  # not her problem

    page = leon.get(problem_url).text
    assert "<strong>inside-out</strong>" in page and "✔ Accept this solution" in page
    accepted = leon.post(
        f"/entries/{solution_id}/accept", data={"csrf_token": leon_token}, follow_redirects=False
    )
    assert accepted.status_code == 303
    page = leon.get(problem_url).text
    assert "badge-solved" in page and "✔ accepted" in page


def test_a_worker_cannot_accept_on_someone_elses_problem(app: object) -> None:
    priya, token = browser(app, "priya.nair")
    # MNT-S-001-1 solves MNT-P-001, asked by leon.fischer
    response = priya.post("/entries/MNT-S-001-1/accept", data={"csrf_token": token})
    assert response.status_code == 403
    assert "only the person who asked this problem" in response.text


def test_an_empty_title_comes_back_with_the_reason_and_the_typed_text(app: object) -> None:
    leon, token = browser(app, "leon.fischer")
    body = "Long description I would hate to type again."
    response = leon.post("/ask", data={"csrf_token": token, "title": "  ", "body": body})
    assert response.status_code == 422
    assert "the title is empty" in response.text and body in response.text


def test_comments_and_practices_through_the_pages(app: object) -> None:
    tomas, token = browser(app, "tomas.novak")
    response = tomas.post(
        "/entries/MNT-P-002/comments",
        data={"csrf_token": token, "body": "Did anyone check the **pilot valve**?"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and "#comment-" in response.headers["location"]
    page = tomas.get("/entries/MNT-P-002").text
    assert "<strong>pilot valve</strong>" in page and "Turn into a solution" in page

    empty = tomas.post("/capture", data={"csrf_token": token, "title": "Warm-up", "body": ""})
    assert empty.status_code == 422 and "the text is empty" in empty.text
    captured = tomas.post(
        "/capture",
        data={
            "csrf_token": token,
            "title": "Drain the compressor condensate before the night shift",
            "body": "Open the drain valve for ten seconds at 21:45.",
            "tags": "compressor",
            "community": "maintenance",
        },
        follow_redirects=False,
    )
    assert captured.status_code == 303
    assert "Drain the compressor condensate" in tomas.get(captured.headers["location"]).text


def test_edit_page_is_only_for_the_author_or_a_knowledge_manager(app: object) -> None:
    tomas, _ = browser(app, "tomas.novak")
    assert tomas.get("/entries/MNT-P-001/edit").status_code == 403
    grace, token = browser(app, "grace.okafor")
    assert 'name="title"' in grace.get("/entries/MNT-P-001/edit").text
    saved = grace.post(
        "/entries/MNT-P-001/edit",
        data={"csrf_token": token, "title": "SINUMERIK alarm 25201 on lathe L3", "body": "x"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert "2 revisions" in grace.get("/entries/MNT-P-001").text
