"""Review schedules edited after creation, the Upcoming reviews view, and collections
built by search-to-add, "Add to collection", moved, edited and deleted; booklets that mark
open problems (issue 17, points 8 and 9). TestClient here; the browser checks are in
tests/test_reviews_collections_browser.py."""

import re
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.communities import community_by_slug, set_private
from kb.models import Entry, Person, utcnow
from kb.routing import new_routing, take
from kb.settings import Settings
from tests.web_helpers import SignedIn, csrf_from
from web.app import create_app

SECTIONS = {
    "problem": "A SINUMERIK lathe stops with alarm 25201 after it has warmed up.",
    "resolution": "Dry and reseat the DRIVE-CLiQ connector and reroute the coolant hose.",
}


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


def new_article(person: SignedIn, **overrides: object) -> str:
    payload = {
        "title": "Alarm 25201 after warm-up: the DRIVE-CLiQ connector",
        "sections": SECTIONS,
        "sources": ["MNT-P-001"],
        "scope": "maintenance",
        "review_interval_days": 90,
        **overrides,
    }
    response = person.post("/api/articles", payload)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def form_post(person: SignedIn, path: str, **fields: str) -> object:
    token = person.headers["X-CSRF-Token"]
    return person.client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)


def history(person: SignedIn, entry_id: str) -> str:
    return person.client.get(f"/entries/{entry_id}/revisions").text


# -- review schedules ---------------------------------------------------------------------


def test_the_api_changes_owner_scope_interval_and_next_date_each_in_the_history(
    app: object,
) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace)
    day = date.today() + timedelta(days=40)
    changed = grace.patch(
        f"/api/articles/{article}",
        {
            "owner": "elena.rossi",
            "scope": "it-support",
            "review_interval_days": 30,
            "next_review_on": day.isoformat(),
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["owner"] == "elena.rossi" and body["scope"] == "it-support"
    assert body["review_interval_days"] == 30
    assert body["next_review_at"].startswith(day.isoformat())
    trail = history(grace, article)
    assert "owner elena.rossi" in trail and "scope it-support" in trail
    assert "every 30 days" in trail and day.strftime("%d %b %Y") in trail

    whole = grace.patch(f"/api/articles/{article}", {"scope": ""}).json()
    assert whole["scope"] is None and "scope whole organisation" in history(grace, article)


def test_a_new_interval_alone_moves_the_next_review(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace)
    moved = grace.patch(f"/api/articles/{article}", {"review_interval_days": 7}).json()
    expected = (utcnow() + timedelta(days=7)).date().isoformat()
    assert moved["next_review_at"].startswith(expected)


@pytest.mark.parametrize(
    ("handle", "payload", "status", "reason"),
    [
        ("tomas.novak", {"review_interval_days": 30}, 403, "only"),
        ("peter.lindqvist", {"owner": "tomas.novak"}, 403, "only"),
        ("grace.okafor", {"next_review_on": "2001-01-01"}, 422, "past"),
        ("grace.okafor", {"next_review_on": "31.12.2030"}, 422, "next_review_on"),
        ("grace.okafor", {"scope": "nowhere"}, 422, "nowhere"),
        ("grace.okafor", {"owner": "nobody.at.all"}, 422, "nobody.at.all"),
        ("grace.okafor", {"review_interval_days": 0}, 422, "review_interval_days"),
    ],
)
def test_schedule_changes_are_refused_with_a_reason(
    app: object, handle: str, payload: dict[str, object], status: int, reason: str
) -> None:
    article = new_article(SignedIn(app, "grace.okafor"))
    response = SignedIn(app, handle).patch(f"/api/articles/{article}", payload)
    assert response.status_code == status, response.text
    assert reason in response.text


def test_the_schedule_page_saves_and_reports_the_next_date(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace)
    entry_page = grace.client.get(f"/entries/{article}").text
    assert f"/entries/{article}/schedule" in entry_page
    form = grace.client.get(f"/entries/{article}/schedule")
    assert form.status_code == 200 and 'name="next_review_on"' in form.text
    day = date.today() + timedelta(days=12)
    saved = form_post(
        grace,
        f"/entries/{article}/schedule",
        owner="lena.hoffmann",
        scope="",
        review_interval_days="45",
        next_review_on=day.isoformat(),
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    page = grace.client.get(f"/entries/{article}").text
    assert f"next review on {day.strftime('%d %b %Y')}" in page  # the flash
    assert "Lena Hoffmann" in page and "whole organisation" in page and "45 days" in page
    bad = form_post(
        grace, f"/entries/{article}/schedule", owner="lena.hoffmann", scope="",
        review_interval_days="45", next_review_on="someday",
    )  # fmt: skip
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text  # type: ignore[attr-defined]
    worker = SignedIn(app, "tomas.novak")
    assert worker.client.get(f"/entries/{article}/schedule").status_code == 403
    assert f"/entries/{article}/schedule" not in worker.client.get(f"/entries/{article}").text


def test_a_new_article_is_in_upcoming_at_once_sorted_and_filtered(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    later = new_article(grace, review_interval_days=300, title="Later article on 25201")
    sooner = new_article(
        grace, review_interval_days=100, owner="elena.rossi", title="Sooner article on VPN",
        sources=["ITS-P-001"], scope="it-support",
    )  # fmt: skip
    assert grace.client.get("/api/reviews").json() == []  # nothing is due yet
    upcoming = grace.client.get("/api/reviews/upcoming").json()
    assert [a["id"] for a in upcoming] == [sooner, later]
    latest_first = grace.client.get("/api/reviews/upcoming", params={"sort": "-date"}).json()
    assert [a["id"] for a in latest_first] == [later, sooner]
    mine = grace.client.get("/api/reviews/upcoming", params={"owner": "elena.rossi"}).json()
    assert [a["id"] for a in mine] == [sooner]
    bad = grace.client.get("/api/reviews/upcoming", params={"sort": "owner"})
    assert bad.status_code == 422 and "date" in bad.text

    page = grace.client.get("/reviews", params={"view": "upcoming"}).text
    assert page.index("Sooner article on VPN") < page.index("Later article on 25201")
    reversed_page = grace.client.get("/reviews", params={"view": "upcoming", "sort": "-date"})
    text = reversed_page.text
    assert text.index("Later article on 25201") < text.index("Sooner article on VPN")
    filtered = grace.client.get("/reviews", params={"view": "upcoming", "owner": "elena.rossi"})
    assert "Sooner article" in filtered.text and "Later article" not in filtered.text
    assert grace.client.get("/reviews", params={"owner": "nobody.x"}).status_code == 422
    assert grace.client.get("/reviews", params={"view": "sideways"}).status_code == 422


def test_upcoming_leaves_out_articles_of_communities_one_may_not_see(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")  # not in it-support
    article = new_article(
        SignedIn(app, "elena.rossi"), title="VPN article", sources=["ITS-P-001"],
        scope="it-support",
    )  # fmt: skip
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        set_private(session, community_by_slug(session, "it-support"), True)
    assert article not in {a["id"] for a in grace.client.get("/api/reviews/upcoming").json()}
    assert "VPN article" not in grace.client.get("/reviews?view=upcoming").text
    elena = SignedIn(app, "elena.rossi")  # a member
    assert article in {a["id"] for a in elena.client.get("/api/reviews/upcoming").json()}


def test_recording_a_review_says_when_the_next_one_is(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace, review_interval_days=30)
    done = form_post(grace, f"/entries/{article}/review?view=upcoming", outcome="confirmed")
    assert done.headers["location"] == "/reviews?view=upcoming"  # type: ignore[attr-defined]
    page = grace.client.get("/reviews?view=upcoming").text
    next_day = (utcnow() + timedelta(days=30)).strftime("%d %b %Y")
    assert "Review recorded (confirmed) for “Alarm 25201" in page
    assert f"next review on {next_day}" in page


# -- collections --------------------------------------------------------------------------


def new_collection(person: SignedIn, entries: list[str], title: str = "Warm-up faults") -> int:
    made = person.post(
        "/api/collections",
        {"title": title, "introduction": "Heat.", "entries": entries, "questions": ["Why?"]},
    )
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def entries_of(person: SignedIn, collection: int) -> list[str]:
    return list(person.client.get(f"/api/collections/{collection}").json()["entries"])


def test_a_collection_starts_empty_and_the_picker_searches_without_javascript(
    app: object,
) -> None:
    grace = SignedIn(app, "grace.okafor")
    made = form_post(grace, "/collections/new", title="Cold starts", introduction="", entries="")
    location = made.headers["location"]  # type: ignore[attr-defined]
    assert re.fullmatch(r"/collections/\d+/edit#add", location)
    editor = grace.client.get(location.split("#")[0])
    assert "Nothing in it yet" in editor.text and 'id="picker-q"' in editor.text
    found = grace.client.get(location.split("#")[0], params={"q": "alarm 25201 lathe"}).text
    assert "MNT-P-001" in found and 'name="entry" value="MNT-P-001"' in found
    collection = int(location.split("/")[2])
    added = form_post(grace, f"/collections/{collection}/entries", entry="MNT-P-001", q="x")
    assert added.headers["location"] == f"/collections/{collection}/edit?q=x"  # type: ignore[attr-defined]
    assert entries_of(grace, collection) == ["MNT-P-001"]
    again = grace.client.get(f"/collections/{collection}/edit", params={"q": "alarm 25201 lathe"})
    assert 'name="entry" value="MNT-P-001"' not in again.text  # already in: not offered


def test_items_move_up_and_down_and_are_removed(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    collection = new_collection(grace, ["MNT-P-001", "MNT-P-002", "MNT-P-003"])
    base = f"/collections/{collection}/entries"
    form_post(grace, f"{base}/MNT-P-003/move", direction="up")
    assert entries_of(grace, collection) == ["MNT-P-001", "MNT-P-003", "MNT-P-002"]
    form_post(grace, f"{base}/MNT-P-001/move", direction="down")
    assert entries_of(grace, collection) == ["MNT-P-003", "MNT-P-001", "MNT-P-002"]
    form_post(grace, f"{base}/MNT-P-003/move", direction="up")  # at the top: stays
    assert entries_of(grace, collection) == ["MNT-P-003", "MNT-P-001", "MNT-P-002"]
    bad = form_post(grace, f"{base}/MNT-P-003/move", direction="sideways")
    assert bad.status_code == 422  # type: ignore[attr-defined]
    form_post(grace, f"{base}/MNT-P-001/remove")
    assert entries_of(grace, collection) == ["MNT-P-003", "MNT-P-002"]
    gone = form_post(grace, f"{base}/MNT-P-001/remove")
    assert gone.status_code == 422 and "not in this collection" in gone.text  # type: ignore[attr-defined]
    editor = grace.client.get(f"/collections/{collection}/edit").text
    assert editor.index("MNT-P-003") < editor.index("MNT-P-002")


def test_the_api_adds_moves_reorders_removes_edits_and_deletes(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    collection = new_collection(grace, ["MNT-P-001"])
    path = f"/api/collections/{collection}"
    assert grace.post(f"{path}/entries", {"entry": "MNT-P-002"}).json()["entries"] == [
        "MNT-P-001", "MNT-P-002",
    ]  # fmt: skip
    assert grace.post(f"{path}/entries", {"entry": "MNT-P-002"}).json()["entries"] == [
        "MNT-P-001", "MNT-P-002",
    ]  # fmt: skip
    moved = grace.post(f"{path}/entries/MNT-P-002/move", {"direction": "up"}).json()
    assert moved["entries"] == ["MNT-P-002", "MNT-P-001"]
    order = grace.client.put(
        f"{path}/order", json={"entries": ["MNT-P-001", "MNT-P-002"]}, headers=grace.headers
    )
    assert order.json()["entries"] == ["MNT-P-001", "MNT-P-002"]
    partial = grace.client.put(
        f"{path}/order", json={"entries": ["MNT-P-001"]}, headers=grace.headers
    )
    assert partial.status_code == 422 and "once" in partial.text
    removed = grace.client.delete(f"{path}/entries/MNT-P-001", headers=grace.headers)
    assert removed.json()["entries"] == ["MNT-P-002"]
    edited = grace.patch(path, {"title": "  New   title ", "questions": ["One?", " ", "Two?"]})
    assert edited.json()["title"] == "New title" and edited.json()["questions"] == ["One?", "Two?"]
    assert edited.json()["introduction"] == "Heat."  # left out: unchanged
    assert grace.patch(path, {"title": "   "}).status_code == 422
    assert grace.post(f"{path}/entries", {"entry": "NOPE-1"}).status_code == 404
    mine = grace.client.get("/api/collections", params={"mine": "true"}).json()
    assert [c["id"] for c in mine] == [collection]
    assert grace.client.delete(path, headers=grace.headers).status_code == 204
    assert grace.client.get(path).status_code == 404


def test_only_the_owner_or_an_admin_changes_a_collection(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    collection = new_collection(grace, ["MNT-P-001"])
    path = f"/api/collections/{collection}"
    for handle in ("claire.dubois", "tomas.novak"):  # another knowledge manager, a worker
        other = SignedIn(app, handle)
        refused = other.patch(path, {"title": "Mine now"})
        assert refused.status_code == 403 and "only" in refused.text
        assert other.client.get(f"/collections/{collection}/edit").status_code == 403
        assert form_post(other, f"/collections/{collection}/delete").status_code == 403  # type: ignore[attr-defined]
        assert "Add to collection" not in other.client.get("/entries/MNT-P-002").text
    admin = SignedIn(app, "david.chen")
    assert admin.patch(path, {"title": "Fixed by the admin"}).status_code == 200
    assert "Edit" in grace.client.get(f"/collections/{collection}").text


def test_the_page_edits_text_and_deletes_after_a_confirmation(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    collection = new_collection(grace, ["MNT-P-001"])
    editor = grace.client.get(f"/collections/{collection}/edit").text
    assert "Delete this collection…" in editor and "cannot be undone" in editor
    saved = form_post(
        grace, f"/collections/{collection}/edit", title="Heat and cold",
        introduction="About **heat**.", questions="First?\nSecond?",
    )  # fmt: skip
    assert saved.status_code == 303  # type: ignore[attr-defined]
    booklet = grace.client.get(f"/collections/{collection}/booklet.html").text
    assert "Heat and cold" in booklet and "<strong>heat</strong>" in booklet
    assert "Second?" in booklet
    empty = form_post(grace, f"/collections/{collection}/edit", title="", introduction="")
    assert empty.status_code == 422 and "needs a title" in empty.text  # type: ignore[attr-defined]
    deleted = form_post(grace, f"/collections/{collection}/delete")
    assert deleted.headers["location"] == "/repertoire"  # type: ignore[attr-defined]
    assert "Deleted the collection “Heat and cold”" in grace.client.get("/repertoire").text
    assert grace.client.get(f"/collections/{collection}").status_code == 404


def test_add_to_collection_on_an_entry_page(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    first = new_collection(grace, ["MNT-P-001"], title="First booklet")
    new_collection(grace, ["MNT-P-001"], title="Second booklet")
    page = grace.client.get("/entries/MNT-P-002").text
    assert "Add to collection" in page
    assert "First booklet" in page and "Second booklet" in page
    token = csrf_from(page)
    added = grace.client.post(
        "/collections/add",
        data={"csrf_token": token, "entry": "MNT-P-002", "collection": str(first)},
        follow_redirects=False,
    )
    assert added.headers["location"] == "/entries/MNT-P-002"
    assert "Added “" in grace.client.get("/entries/MNT-P-002").text
    assert entries_of(grace, first) == ["MNT-P-001", "MNT-P-002"]
    no_choice = form_post(grace, "/collections/add", entry="MNT-P-002", collection="")
    assert no_choice.status_code == 422 and "choose one" in no_choice.text  # type: ignore[attr-defined]
    nothing = form_post(grace, f"/collections/{first}/entries", entry=" ")
    assert nothing.status_code == 422 and "choose an article" in nothing.text  # type: ignore[attr-defined]


def test_the_picker_and_add_to_collection_respect_members_only_communities(
    app: object,
) -> None:
    grace = SignedIn(app, "grace.okafor")  # not in it-support
    collection = new_collection(grace, ["MNT-P-001"])
    query = "VPN error 0x80070005"
    before = grace.client.get(f"/collections/{collection}/edit", params={"q": query}).text
    assert 'value="ITS-P-001"' in before
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        set_private(session, community_by_slug(session, "it-support"), True)
    after = grace.client.get(f"/collections/{collection}/edit", params={"q": query}).text
    assert "ITS-" not in after
    refused = form_post(grace, f"/collections/{collection}/entries", entry="ITS-P-001")
    assert refused.status_code == 404  # type: ignore[attr-defined]
    assert (
        grace.post(f"/api/collections/{collection}/entries", {"entry": "ITS-P-001"}).status_code
        == 404
    )
    assert entries_of(grace, collection) == ["MNT-P-001"]


def test_a_booklet_marks_open_problems_unsolved_and_taken_ones_in_progress(
    app: object,
) -> None:
    tomas, grace = SignedIn(app, "tomas.novak"), SignedIn(app, "grace.okafor")
    asked = tomas.post(
        "/api/problems",
        {"title": "Coolant pump hums but does not start", "body": "Since Monday.",
         "community": "maintenance"},
    )  # fmt: skip
    assert asked.status_code == 201, asked.text
    open_id = asked.json()["id"]
    collection = new_collection(grace, ["MNT-P-001", open_id])
    markdown = grace.client.get(f"/collections/{collection}/booklet.md").text
    assert "**Unsolved: no accepted solution yet**" in markdown
    assert markdown.count("Unsolved") == 1  # the solved case is not marked
    html = grace.client.get(f"/collections/{collection}/booklet.html").text
    assert '<p class="unsolved">Unsolved: no accepted solution yet</p>' in html
    assert ">Unsolved<" in grace.client.get(f"/collections/{collection}").text

    with app.state.database.session() as session:  # type: ignore[attr-defined]
        problem = session.scalar(select(Entry).where(Entry.external_id == open_id))
        marta = session.scalar(select(Person).where(Person.handle == "marta.kowalski"))
        assert problem is not None and marta is not None
        routing = new_routing(session, problem, marta, None, [], "")
        session.commit()
        take(session, marta, routing)
    markdown = grace.client.get(f"/collections/{collection}/booklet.md").text
    assert "Unsolved (in progress: someone is working on it)" in markdown
    html = grace.client.get(f"/collections/{collection}/booklet.html").text
    assert "Unsolved (in progress: someone is working on it)" in html
