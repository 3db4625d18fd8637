"""Security findings about the API's rules (issue 22), kept as tests: ids too large for
the database, routing by hand to people who said not to be asked, routes that read more
than their page, and the search log's rate limit."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb.entry_schema import MAX_TAGS, MAX_TITLE_CHARS
from kb.models import Person, SearchLog
from kb.settings import Settings
from tests.test_routing import LATHE
from tests.web_helpers import SignedIn
from web.app import create_app

HUGE = str(2**63)  # one past the largest 64-bit integer
BEYOND_INTEGER = str(2**31)  # one past PostgreSQL's INTEGER, the type of every row id
PROBLEM = LATHE


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"/api/collections/{HUGE}"),
        ("POST", f"/api/routings/{HUGE}/take"),
        ("POST", f"/api/routings/{HUGE}/decline"),
        ("POST", f"/api/routings/{HUGE}/pass"),
        ("POST", f"/api/comments/{HUGE}/solution"),
        ("GET", f"/collections/{HUGE}"),
        ("GET", f"/collections/{HUGE}/booklet.md"),
        ("GET", f"/api/collections/{-1}"),
        ("GET", f"/api/collections/{BEYOND_INTEGER}"),
        ("POST", f"/api/routings/{BEYOND_INTEGER}/take"),
        ("GET", f"/entries/MNT-P-001?s={HUGE}"),
    ],
)
def test_an_id_beyond_the_id_columns_is_refused_not_a_server_error(
    app: object, method: str, path: str
) -> None:
    grace = SignedIn(app, "grace.okafor")
    json = {"to": "priya.nair"} if path.endswith("/pass") else {}
    response = grace.client.request(
        method, path, json=json if method == "POST" else None, headers=grace.headers
    )
    assert response.status_code == 422, response.text


def set_availability(app: object, handle: str, *, away: bool, opt_out: bool) -> None:
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        person = session.scalar(select(Person).where(Person.handle == handle))
        person.away, person.routing_opt_out = away, opt_out
        session.commit()


@pytest.mark.parametrize(
    "away, opt_out, reason", [(True, False, "is away"), (False, True, "opted out")]
)
def test_routing_by_hand_respects_away_and_opt_out(
    app: object, away: bool, opt_out: bool, reason: str
) -> None:
    tomas, marta = SignedIn(app, "tomas.novak"), SignedIn(app, "marta.kowalski")
    problem = tomas.post("/api/problems", PROBLEM).json()["id"]
    set_availability(app, "jonas.weber", away=away, opt_out=opt_out)

    named = tomas.post(f"/api/problems/{problem}/route", {"people": ["jonas.weber"]})
    assert named.status_code == 422 and reason in named.json()["error"]["message"]

    routed = tomas.post(f"/api/problems/{problem}/route", {"people": ["marta.kowalski"]})
    assert routed.status_code == 201, routed.text
    passed = marta.post(f"/api/routings/{routed.json()[0]['id']}/pass", {"to": "jonas.weber"})
    assert passed.status_code == 422 and reason in passed.json()["error"]["message"]
    inbox = SignedIn(app, "jonas.weber").client.get("/api/inbox").json()
    assert inbox["items"] == []


def test_review_queue_and_promotion_candidates_need_what_their_pages_need(app: object) -> None:
    # With public reading on (the demo's setting), the /reviews page asks for sign-in and
    # the Repertoire page shows candidates only to knowledge managers.
    anonymous = TestClient(app)  # type: ignore[arg-type]
    page = anonymous.get("/reviews", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/signin")
    assert anonymous.get("/api/reviews").status_code == 401
    assert anonymous.get("/api/repertoire/candidates").status_code == 401

    worker = SignedIn(app, "tomas.novak")
    assert worker.client.get("/api/reviews").status_code == 200
    assert worker.client.get("/api/repertoire/candidates").status_code == 403

    manager = SignedIn(app, "grace.okafor")
    assert manager.client.get("/api/repertoire/candidates").status_code == 200


def logged_rows(app: object) -> int:
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count(SearchLog.id))) or 0)


def test_the_search_log_is_rate_limited_per_visitor_and_per_address(app: object) -> None:
    limit = app.state.search_log_limit  # type: ignore[attr-defined]
    before = logged_rows(app)
    browser = TestClient(app)  # type: ignore[arg-type]
    for number in range(limit.PER_VISITOR + 5):
        assert browser.get("/search", params={"q": f"coolant leak {number}"}).status_code == 200
    assert logged_rows(app) - before == limit.PER_VISITOR

    # A script that drops its cookie is a new visitor each time: its address still counts.
    for number in range(limit.PER_ADDRESS + 5):
        cookieless = TestClient(app)  # type: ignore[arg-type]
        response = cookieless.get("/search", params={"q": f"spindle noise {number}"})
        assert response.status_code == 200
    assert logged_rows(app) - before == limit.PER_ADDRESS


def test_an_ask_draft_keeps_updating_its_one_row_past_the_limit(app: object) -> None:
    limit = app.state.search_log_limit  # type: ignore[attr-defined]
    before = logged_rows(app)
    worker = SignedIn(app, "tomas.novak")
    words = "the lathe stops with an alarm after it warms up in the morning shift".split()
    for count in range(1, limit.PER_VISITOR + 6):
        text = " ".join(words[: 2 + count % len(words)])
        response = worker.post("/api/similar", {"title": text, "body": ""})
        assert response.status_code == 200 and response.json()["log_id"] is not None
    assert logged_rows(app) - before == 1


def test_the_openapi_states_the_title_and_tag_limits_the_server_enforces(app: object) -> None:
    schemas = TestClient(app).get("/openapi.json").json()["components"]["schemas"]  # type: ignore[arg-type]
    titles = {
        name: schema["properties"]["title"].get("maxLength")
        for name, schema in schemas.items()
        if name in {"EntryIn", "SolutionIn", "EntryEdit", "ArticleIn"}
    }
    assert titles and set(titles.values()) == {MAX_TITLE_CHARS}, titles
    assert schemas["EntryIn"]["properties"]["tags"]["maxItems"] == MAX_TAGS

    worker = SignedIn(app, "tomas.novak")
    longest = {**PROBLEM, "title": "x" * MAX_TITLE_CHARS}
    assert worker.post("/api/problems", longest).status_code == 201
    too_long = worker.post("/api/problems", {**PROBLEM, "title": "x" * (MAX_TITLE_CHARS + 1)})
    assert too_long.status_code == 422
