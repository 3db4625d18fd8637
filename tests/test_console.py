"""The tutors' console: the search log, knowledge gaps grouped by meaning, community
health on a constructed history, assigning a gap, and who may open the console."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import combinations, count

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from indexer.embedder import Embedder
from kb.database import Database
from kb.health import community_health
from kb.models import (
    Comment,
    Community,
    Entry,
    Feedback,
    Gap,
    Person,
    SearchLog,
    utcnow,
)
from kb.search_log import log_search, prune
from kb.settings import Settings
from search.gaps import average_linkage
from tests.web_helpers import SignedIn, csrf_from
from web.app import create_app

# Five needs, each asked three ways, and three unrelated one-off searches.
TOPICS = [
    [
        "forklift battery will not hold a charge overnight",
        "the fork truck battery is flat every morning",
        "forklift batteries drain while parked overnight",
    ],
    [
        "how do I book a meeting room for visitors",
        "reserving a conference room for external guests",
        "where can I reserve a room when customers visit",
    ],
    [
        "laser cutter leaves burrs on stainless sheet",
        "stainless steel parts from the laser have rough dross on the edge",
        "burr on the cut edge of stainless after laser cutting",
    ],
    [
        "expense claim for a train ticket abroad",
        "how to get reimbursed for rail travel in another country",
        "refund of international train fares on expenses",
    ],
    [
        "paint booth filter clogs after two days",
        "spray booth filters block up far too quickly",
        "the filters in the painting cabin need changing every other day",
    ],
]
LONERS = [
    "parking permit for a motorbike",
    "canteen menu in braille",
    "firmware for the barcode scanner at goods-in",
]


def cluster_quality(embedder: Embedder, threshold: float) -> tuple[int, int, int, int]:
    texts = [text for topic in TOPICS for text in topic] + LONERS
    topic_of = [i for i, topic in enumerate(TOPICS) for _ in topic]
    topic_of += [100 + i for i in range(len(LONERS))]
    groups = average_linkage(embedder.encode(texts), threshold)
    group_of = {member: g for g, group in enumerate(groups) for member in group}
    together = apart = same = different = 0
    for a, b in combinations(range(len(texts)), 2):
        if topic_of[a] == topic_of[b]:
            same += 1
            together += group_of[a] == group_of[b]
        else:
            different += 1
            apart += group_of[a] != group_of[b]
    return together, same, apart, different


def test_paraphrased_failed_searches_group_together_and_unrelated_ones_apart(
    embedder: Embedder,
) -> None:
    threshold = Settings().gap_cluster_similarity
    together, same, apart, different = cluster_quality(embedder, threshold)
    print(
        f"\nclusters at {threshold}: {together}/{same} paraphrase pairs together, "
        f"{apart}/{different} unrelated pairs apart"
    )
    assert apart == different
    assert together >= 0.8 * same


def test_average_linkage_is_deterministic_and_respects_the_threshold(
    embedder: Embedder,
) -> None:
    vectors = embedder.encode([text for topic in TOPICS for text in topic])
    assert average_linkage(vectors, 0.55) == average_linkage(vectors.copy(), 0.55)
    assert len(average_linkage(vectors, 1.01)) == len(vectors)  # nothing is that similar
    assert len(average_linkage(vectors, -1.0)) == 1  # everything is


def test_health_figures_on_a_constructed_history(database: Database) -> None:
    monday = datetime(2026, 3, 2, 9, 0)  # a Monday
    with database.session() as session:
        team = Community(slug="team", name="Team")
        other = Community(slug="other", name="Other")
        session.add_all([team, other])
        ann, bob, cid = (Person(handle=h, name=h.title()) for h in ("ann", "bob", "cid"))
        session.add_all([ann, bob, cid])
        session.flush()
        numbers = count(1)

        def entry(kind: str, author: Person, at: datetime, **values: object) -> Entry:
            item = Entry(
                external_id=f"entry-{next(numbers)}",
                kind=kind,
                title=f"{kind} by {author.handle}",
                body="text",
                status="open" if kind == "problem" else "community",
                author_id=author.id,
                community_id=values.pop("community_id", team.id),
                created_at=at,
                updated_at=at,
                **values,
            )
            session.add(item)
            session.flush()
            return item

        # week 1: two problems; p1 gets a comment after 2 h and an accepted solution after 10 h,
        # p2 a solution after 4 h that is not accepted.
        p1 = entry("problem", ann, monday)
        session.add(
            Comment(
                entry_id=p1.id, author_id=bob.id, body="?", created_at=monday + timedelta(hours=2)
            )
        )
        entry("solution", bob, monday + timedelta(hours=10), solves_id=p1.id, accepted=True)
        p2 = entry("problem", ann, monday + timedelta(days=1))
        entry("solution", cid, monday + timedelta(days=1, hours=4), solves_id=p2.id)
        # week 2: one problem, unanswered; two reuses of bob's answer; a problem elsewhere.
        entry("problem", cid, monday + timedelta(days=8))
        entry("problem", cid, monday + timedelta(days=8), community_id=other.id)
        for person in (ann, cid):
            session.add(
                Feedback(
                    entry_id=p1.id,
                    person_id=person.id,
                    kind="reuse",
                    created_at=monday + timedelta(days=9),
                )
            )
        session.commit()

        report = community_health(
            session, since=monday, community="team", now=monday + timedelta(days=13)
        )
    first, second = report.weeks
    assert (first.asked, first.solved, first.share_solved) == (2, 1, 0.5)
    assert first.hours_to_first_answer == 3.0  # median of 2 h and 4 h
    assert first.hours_to_solution == 10.0
    assert first.contributors == 3 and first.reuses == 0
    assert (second.asked, second.solved, second.reuses, second.reuse_rate) == (1, 0, 2, 2.0)
    assert second.hours_to_first_answer is None and second.contributors == 1
    assert (report.asked, report.solved) == (3, 1)
    assert [(h.handle, h.solutions, h.accepted) for h in report.top_helpers] == [
        ("bob", 1, 1),
        ("cid", 1, 0),
    ]


def test_searches_are_logged_anonymously_with_what_was_opened_and_asked(
    demo_people: Settings,
) -> None:
    with TestClient(create_app(demo_people)) as app_client:
        tomas = SignedIn(app_client.app, "tomas.novak")
        page = tomas.client.get("/search", params={"q": "forklift battery flat overnight"}).text
        assert "?s=" in page
        with app_client.app.state.database.session() as session:
            row = session.scalars(select(SearchLog)).one()
            assert row.kind == "search" and row.person_id is None and row.hits > 0
        first_hit = page.split('class="hit-title" href="')[1].split('"')[0]
        tomas.client.get(first_hit)
        draft = tomas.client.post("/api/similar", json={"title": "forklift battery is flat"})
        assert draft.json()["log_id"] > row.id
        tomas.client.post("/api/similar", json={"title": "forklift battery is flat every day"})
        tomas.post("/api/problems", {"title": "Forklift battery flat every morning"})
        with app_client.app.state.database.session() as session:
            rows = list(session.scalars(select(SearchLog).order_by(SearchLog.id)))
    assert [r.kind for r in rows] == ["search", "ask"]  # one row per Ask draft
    assert rows[0].opened_entry_id is not None
    assert rows[1].query.startswith("forklift battery is flat every day")
    assert all(r.posted_problem_id is not None for r in rows)


def test_identity_is_kept_only_when_configured_and_old_rows_are_pruned(
    database: Database,
) -> None:
    with database.session() as session:
        person = Person(handle="ann", name="Ann")
        session.add(person)
        session.flush()
        now = utcnow()
        log_search(
            session,
            kind="search",
            query="a",
            hits=0,
            best_similarity=None,
            visitor="v1",
            person=None,
            now=now - timedelta(days=200),
        )
        kept = log_search(
            session,
            kind="search",
            query="b",
            hits=0,
            best_similarity=None,
            visitor="v1",
            person=person,
            now=now,
        )
        assert prune(session, 180, now=now) == 1
        assert [r.query for r in session.scalars(select(SearchLog))] == ["b"]
        assert kept.person_id == person.id


@pytest.fixture
def console_app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


@pytest.mark.parametrize(
    ("handle", "status"),
    [
        ("tomas.novak", 403),  # worker
        ("peter.lindqvist", 200),  # tutor
        ("marta.kowalski", 200),  # community leader
        ("grace.okafor", 200),  # knowledge manager
    ],
)
def test_only_tutors_leaders_managers_and_admins_open_the_console(
    console_app: object, handle: str, status: int
) -> None:
    person = SignedIn(console_app, handle)
    response = person.client.get("/console", headers={"accept": "text/html"})
    assert response.status_code == status
    if status == 200:
        assert response.text.count('<svg class="chart"') == 3


def test_the_console_shows_the_index_it_searches(console_app: object) -> None:
    engine = console_app.state.engine  # type: ignore[attr-defined]
    page = SignedIn(console_app, "peter.lindqvist").client.get("/console").text
    index = page[page.index('id="index"') :]
    assert f"{engine.describe_index().vectors:,} (flat, exact)" in index
    assert engine.describe_index().model_id in index and "— current" in index
    assert "vectors-" in index and "MiB, built" in index


def test_a_gap_is_assigned_reaches_the_inbox_and_closes_when_answered(
    console_app: object,
) -> None:
    tomas = SignedIn(console_app, "tomas.novak")
    marta = SignedIn(console_app, "marta.kowalski")
    for topic in TOPICS[0][:2]:  # three failed searches about forklift batteries, two people
        tomas.client.get("/search", params={"q": topic})
    marta.client.get("/search", params={"q": TOPICS[0][2]})
    peter = SignedIn(console_app, "peter.lindqvist")
    console = peter.client.get("/console").text
    assert "forklift" in console and "Suggested discussion topics" in console
    response = peter.client.post(
        "/console/gaps",
        data={
            "csrf_token": csrf_from(console),
            "label": "forklift, battery, overnight",
            "texts": TOPICS[0],
            "assignee": "jonas.weber",
            "note": "You know the chargers",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303

    jonas = SignedIn(console_app, "jonas.weber")
    assert 'class="unread">1<' in jonas.client.get("/").text
    inbox = jonas.client.get("/inbox").text
    assert "forklift, battery, overnight" in inbox and "You know the chargers" in inbox

    practice = jonas.post(
        "/api/practices",
        {
            "title": "Keep forklift batteries charged overnight",
            "body": "Fork truck batteries go flat overnight when the charger plug is left "
            "in the equalise setting; park on the charger and check the green lamp.",
            "community": "maintenance",
        },
    ).json()
    database = console_app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        gap = session.scalars(select(Gap)).one()
        assert gap.state == "closed"
        assert gap.answer is not None and gap.answer.external_id == practice["id"]
