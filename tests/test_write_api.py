"""Writing through the JSON API: ask, solve, accept, reuse, feedback, edit, discuss,
with the rules checked on the server, and bad input answered with a clear 4xx."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kb.entry_schema import MAX_BODY_CHARS
from kb.settings import Settings
from tests.web_helpers import SignedIn as Person
from web.app import create_app


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


@pytest.fixture
def leon(app: object) -> Person:
    return Person(app, "leon.fischer")  # worker


@pytest.fixture
def priya(app: object) -> Person:
    return Person(app, "priya.nair")  # worker


@pytest.fixture
def grace(app: object) -> Person:
    return Person(app, "grace.okafor")  # knowledge manager


PROBLEM = {
    "title": "Conveyor C4 stops when the hall door opens in winter",
    "body": "Every cold morning the belt of conveyor C4 trips as soon as the hall door opens.",
    "tags": ["conveyor", "Cold Weather"],
    "community": "maintenance",
}


def test_ask_solve_accept_then_search_shows_it_solved(leon: Person, priya: Person) -> None:
    response = leon.post("/api/problems", PROBLEM)
    assert response.status_code == 201, response.text
    problem = response.json()
    assert problem["status"] == "open" and problem["author"] == "leon.fischer"
    assert problem["tags"] == ["conveyor", "cold-weather"]

    hits = leon.client.get("/api/search", params={"q": "belt trips when the door opens"}).json()
    assert hits["hits"][0]["id"] == problem["id"]  # searchable at once, by meaning

    solution = priya.post(
        f"/api/problems/{problem['id']}/solutions",
        {"body": "The photo-eye fogs up; fit the heated housing (part PE-H2)."},
    ).json()
    assert solution["solves"] == problem["id"] and solution["title"] == ""

    accepted = leon.post(f"/api/solutions/{solution['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "solved"

    hit = next(
        h
        for h in leon.client.get("/api/search", params={"q": "conveyor C4 hall door"}).json()[
            "hits"
        ]
        if h["id"] == problem["id"]
    )
    assert hit["status"] == "solved" and hit["accepted_solution"]["id"] == solution["id"]


def test_only_the_asker_or_a_knowledge_manager_accepts(
    leon: Person, priya: Person, grace: Person
) -> None:
    problem = leon.post("/api/problems", PROBLEM).json()
    path = f"/api/problems/{problem['id']}/solutions"
    first = priya.post(path, {"body": "Heated photo-eye housing."}).json()
    second = grace.post(path, {"body": "Move the sensor away from the door."}).json()

    refused = priya.post(f"/api/solutions/{first['id']}/accept")
    assert refused.status_code == 403
    assert "only the person who asked" in refused.json()["error"]["message"]
    assert leon.client.get(f"/api/entries/{problem['id']}").json()["status"] == "open"

    assert grace.post(f"/api/solutions/{first['id']}/accept").status_code == 200
    assert leon.post(f"/api/solutions/{second['id']}/accept").status_code == 200
    entry = leon.client.get(f"/api/entries/{problem['id']}").json()
    assert entry["solutions"][0] == second["id"]  # accepted first
    assert leon.client.get(f"/api/entries/{first['id']}").json()["accepted"] is False


def test_reuse_and_feedback_are_counted_once_per_person(
    leon: Person, priya: Person, grace: Person
) -> None:
    entry = "MNT-G-002"  # a practice by jonas.weber
    for person in (leon, priya, leon):
        assert person.post(f"/api/entries/{entry}/reuse").status_code == 200
    helpful = grace.post(f"/api/entries/{entry}/feedback", {"kind": "helpful"}).json()
    assert helpful["reuse_count"] == 2 and helpful["helpful_count"] == 1

    no_reason = priya.post(f"/api/entries/{entry}/feedback", {"kind": "flag"})
    assert no_reason.status_code == 422
    assert "say why" in no_reason.json()["error"]["message"]
    flagged = priya.post(
        f"/api/entries/{entry}/feedback", {"kind": "flag", "reason": "the accumulator valve moved"}
    ).json()
    assert flagged["flag_count"] == 1
    page = priya.client.get(f"/entries/{entry}").text
    assert "the accumulator valve moved" in page and "↻ 2 reused" in page


def test_nobody_counts_reuse_of_their_own_entry(leon: Person) -> None:
    problem = leon.post("/api/problems", PROBLEM).json()
    response = leon.post(f"/api/entries/{problem['id']}/reuse")
    assert response.status_code == 403


def test_edits_keep_every_revision_and_only_author_or_manager_may_edit(
    leon: Person, priya: Person, grace: Person
) -> None:
    problem = leon.post("/api/problems", PROBLEM).json()
    change = {**PROBLEM, "body": PROBLEM["body"] + " Only below 5 °C."}
    refused = priya.patch(f"/api/entries/{problem['id']}", change)
    assert refused.status_code == 403
    assert leon.patch(f"/api/entries/{problem['id']}", change).status_code == 200

    imported = "MNT-P-002"  # asked by ravi.patel; grace is a knowledge manager
    edited = grace.patch(
        f"/api/entries/{imported}", {"title": "Press P250 ram drifts down during dwell"}
    )
    assert edited.status_code == 200, edited.text

    mine = leon.client.get(f"/api/entries/{problem['id']}/revisions").json()
    assert [r["number"] for r in mine] == [1, 2] and mine[1]["body"].endswith("Only below 5 °C.")
    theirs = leon.client.get(f"/api/entries/{imported}/revisions").json()
    assert [(r["number"], r["editor"]) for r in theirs] == [
        (1, "ravi.patel"),
        (2, "grace.okafor"),
    ]
    history = leon.client.get(f"/entries/{imported}/revisions").text
    assert "Press P250 ram drifts down during dwell" in history and 'class="added"' in history


def test_a_comment_becomes_a_solution_only_by_its_author(leon: Person, priya: Person) -> None:
    problem = leon.post("/api/problems", PROBLEM).json()
    comment = priya.post(
        f"/api/entries/{problem['id']}/comments", {"body": "Is the photo-eye fogged up?"}
    ).json()
    assert comment["author"] == "priya.nair"
    listed = leon.client.get(f"/api/entries/{problem['id']}/comments").json()
    assert [c["body"] for c in listed] == ["Is the photo-eye fogged up?"]

    assert leon.post(f"/api/comments/{comment['id']}/solution").status_code == 403
    solution = priya.post(f"/api/comments/{comment['id']}/solution")
    assert solution.status_code == 201
    assert solution.json()["solves"] == problem["id"]
    again = priya.post(f"/api/comments/{comment['id']}/solution")
    assert again.status_code == 422


def test_writing_needs_a_signed_in_person(app: object) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    response = client.post("/api/problems", json=PROBLEM)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "sign_in_required"
    page = client.post(
        "/ask", data=PROBLEM, headers={"accept": "text/html"}, follow_redirects=False
    )
    assert page.status_code == 303 and page.headers["location"].startswith("/signin?next=")


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"title": "   "}, 422, "the title is empty"),
        ({"title": "x" * 301}, 422, "at most 300 characters"),
        ({"title": "Big", "body": "x" * 1_000_000}, 422, f"at most {MAX_BODY_CHARS} characters"),
        ({"title": "Tags", "tags": ["no/slashes"]}, 422, "is not usable"),
        ({"title": "Where", "community": "nowhere"}, 422, "no community is called 'nowhere'"),
        ({"body": "no title"}, 422, "title: Field required"),
    ],
)
def test_bad_entries_get_a_4xx_with_the_reason(
    leon: Person, payload: dict[str, object], status: int, message: str
) -> None:
    response = leon.post("/api/problems", payload)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]


def test_invalid_utf8_and_huge_requests_get_a_4xx(leon: Person) -> None:
    response = leon.client.post(
        "/api/problems",
        content=b'{"title": "\xff\xfe broken"}',
        headers={**leon.headers, "content-type": "application/json"},
    )
    assert response.status_code == 400 and "error" in response.json()
    huge = leon.client.post(
        "/api/problems",
        content=b'{"title": "x", "body": "' + b"y" * 3_000_000 + b'"}',
        headers={**leon.headers, "content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert "too large" in huge.json()["error"]["message"]


def test_script_and_javascript_links_render_inert(leon: Person) -> None:
    problem = leon.post(
        "/api/problems",
        {
            "title": "Screen shows <script>alert('t')</script>",
            "body": "See [this](javascript:alert(1)) and <img src=x onerror=alert(2)>",
        },
    ).json()
    page = leon.client.get(f"/entries/{problem['id']}").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<img" not in page and 'href="javascript:' not in page


def test_api_docs_are_served_without_a_cdn(app: object) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get("/docs").text
    assert "/static/docs/swagger-ui-bundle.js" in page and "cdn." not in page
    assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/problems", "/api/problems/{external_id}/solutions", "/api/practices"} <= set(
        paths
    )
