"""The console's gaps are the community's real needs (issue 17, point 7): each rule on a
planted search log, rows written with kb.search_log's functions at chosen times."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from indexer.embedder import Embedder
from kb.contributions import capture_practice, record_feedback, withdraw_feedback
from kb.database import Database
from kb.entry_schema import EntryDraft
from kb.gaps import GapToAssign, assign_gap
from kb.models import Entry, FeedbackKind, Gap, Person, SearchLog, utcnow
from kb.search_log import failed_searches, log_search, mark_opened
from search.engine import SearchEngine
from search.gap_words import is_noise
from search.gaps import characteristic_terms, find_gaps, gap_report, vocabulary_check
from tests.conftest import copy_home, make_settings
from tests.web_helpers import SignedIn, csrf_from
from web.app import create_app

WEAK = 0.2  # a best hit this far off: the search failed
FORKLIFT = [
    "forklift battery will not hold a charge overnight",
    "the fork truck battery is flat every morning",
    "forklift batteries drain while parked overnight",
]


@pytest.fixture(scope="module")
def demo(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("console-gaps") / "kb-home"
    copy_home(demo_people_home, home)
    yield home


@pytest.fixture
def engine(demo: Path, embedder: Embedder) -> Iterator[SearchEngine]:
    """The module's demo copy with an empty search log and no assigned gaps."""
    settings = make_settings(demo)
    database = Database.from_settings(settings)
    with database.session() as session:
        session.execute(delete(SearchLog))
        session.execute(delete(Gap))
        session.commit()
    engine = SearchEngine.open(settings, database, embedder)
    yield engine
    engine.close()
    database.dispose()


def plant(
    engine: SearchEngine,
    query: str,
    visitor: str,
    at: datetime,
    community: str | None = None,
    best: float = WEAK,
) -> int:
    with engine.database.session() as session:
        row = log_search(
            session,
            kind="search",
            query=query,
            hits=3,
            best_similarity=best,
            visitor=visitor,
            community=community,
            now=at,
        )
        assert row is not None
        return row.id


def report(engine: SearchEngine, community: str | None = None, now: datetime | None = None):  # type: ignore[no-untyped-def]
    moment = now or utcnow()
    with engine.database.session() as session:
        return gap_report(
            engine,
            session,
            engine.settings,
            since=moment - timedelta(weeks=8),
            community=community,
            now=moment,
        )


def entry(session: object, external_id: str) -> Entry:
    return session.scalars(select(Entry).where(Entry.external_id == external_id)).one()  # type: ignore[attr-defined]


def person(session: object, handle: str) -> Person:
    return session.scalars(select(Person).where(Person.handle == handle)).one()  # type: ignore[attr-defined]


def test_a_search_that_led_to_a_reused_answer_is_no_failed_search(engine: SearchEngine) -> None:
    now = utcnow()
    query = "pump seal leaks after the overhaul"
    found = plant(engine, query, "visitor-a", now - timedelta(minutes=20))
    plant(engine, query, "visitor-b", now - timedelta(minutes=20))
    since = now - timedelta(days=1)
    with engine.database.session() as session:
        answer = session.scalars(select(Entry).where(Entry.kind == "solution")).first()
        assert answer is not None
        reader = next(p for p in session.scalars(select(Person)) if p.id != answer.author_id)
        mark_opened(session, found, "visitor-a", answer.id)
        assert len(failed_searches(session, 0.5, since, now=now)) == 2  # opened, not answered
        record_feedback(session, reader, answer, FeedbackKind.REUSE, searched_as="visitor-a")
        assert [row.visitor for row in failed_searches(session, 0.5, since, now=now)] == [
            "visitor-b"
        ]
        # Taking the mark back makes it a failed search again.
        withdraw_feedback(session, reader, answer, FeedbackKind.REUSE, searched_as="visitor-a")
        failed = failed_searches(session, 0.5, since, now=now)
    assert sorted(row.visitor for row in failed) == ["visitor-a", "visitor-b"]


def test_size_counts_people_not_searches(engine: SearchEngine) -> None:
    now = utcnow()
    for minute in range(10):  # one person, the same search ten times
        plant(engine, FORKLIFT[0], "repeater", now - timedelta(hours=3, minutes=minute))
    plant(engine, FORKLIFT[1], "someone-else", now - timedelta(hours=2))
    forklift = [c for c in report(engine).clusters if any("fork" in i.text for i in c.items)]
    assert len(forklift) == 1
    assert (forklift[0].people, forklift[0].searches, forklift[0].size) == (2, 11, 2)


@pytest.mark.parametrize(
    ("query", "noise"),
    [
        ("asdf jkl", True),  # keyboard mashing: no word the model or the index knows
        ("qwerty", True),
        ("zzzz aaaa", True),  # one letter repeated
        ("ok", True),  # too short
        ("?? !!", True),
        ("0.6", True),  # a number is no need
        ("help about always", True),  # filler only
        ("forklift", False),  # two of the model's words run together
        ("sinumerik", False),  # not a model word, but the index has it
        ("canteen menu in braille", False),
        ("E4021 on start", False),  # an error code
        ("batteries drained", False),
    ],
)
def test_noise_is_no_gap(engine: SearchEngine, query: str, noise: bool) -> None:
    assert is_noise(query, vocabulary_check(engine)) is noise


def test_noise_is_left_out_and_counted(engine: SearchEngine) -> None:
    now = utcnow()
    for number, query in enumerate(["asdf", "asdf jkl", "qwerty", "sdfsdf"]):
        plant(engine, query, f"masher-{number}", now - timedelta(hours=1))
    plant(engine, FORKLIFT[0], "worker", now - timedelta(hours=1))
    found = report(engine)
    assert found.noise == 4
    assert [item.text for item in found.failed] == [FORKLIFT[0]]


def test_labels_are_content_words_without_filler_or_numbers() -> None:
    group = [
        "always about 0.6 bar on the forklift battery",
        "forklift battery always flat, about 0.6 volts",
        "batteries of the forklift always flat",
    ]
    others = ["meeting room booking", "laser cutter burr on stainless"]
    terms = characteristic_terms(group, group + others)
    assert set(terms[:2]) == {"forklift", "battery"}  # "batteries" counted as "battery"
    assert not {"always", "about", "0.6", "0", "6", "the"} & set(terms)
    assert len(terms) <= 3


def test_a_community_console_shows_the_failed_searches_near_its_entries(
    engine: SearchEngine,
) -> None:
    now = utcnow()
    vpn = "the VPN client drops the connection every few minutes on the laptop"
    press = "hydraulic press loses pressure and the cylinder seal leaks oil"
    plant(engine, vpn, "a", now - timedelta(hours=1))
    plant(engine, press, "b", now - timedelta(hours=1))
    plant(engine, "forklift battery flat", "c", now - timedelta(hours=1), community="trainers")

    def texts(community: str) -> set[str]:
        return {item.text for item in report(engine, community).failed}

    assert texts("it-support") == {vpn}
    assert texts("maintenance") == {press}
    assert texts("trainers") == {"forklift battery flat"}  # the filter used wins
    assert len(report(engine).failed) == 3


def test_a_gap_answered_since_leaves_the_list(engine: SearchEngine) -> None:
    now = utcnow()
    paint = [
        "paint booth filter clogs after two days",
        "spray booth filters block up far too quickly",
    ]
    plant(engine, paint[0], "p1", now - timedelta(days=2))
    plant(engine, paint[1], "p2", now - timedelta(days=1))
    with engine.database.session() as session:
        open_before = find_gaps(
            engine, session, engine.settings, since=now - timedelta(weeks=1), now=now
        )
        assert any(paint[0] in c.examples for c in open_before)
        author = person(session, "jonas.weber")
        practice = capture_practice(
            session,
            author,
            EntryDraft(
                "Paint booth filters clog quickly: change the pre-filter",
                "Spray booth filters block up after two days when the pre-filter mat is "
                "missing; fit the pre-filter and the paint booth filter lasts weeks.",
            ),
            "maintenance",
        )
        practice_id = practice.external_id
    try:
        engine.index_entries([practice.id])
        found = report(engine)
        paint_groups = [c for c in found.clusters if paint[0] in c.examples]
        assert paint_groups and paint_groups[0].answered_by is not None
        assert paint_groups[0].answered_by.external_id == practice_id
        with engine.database.session() as session:
            still_open = find_gaps(
                engine, session, engine.settings, since=now - timedelta(weeks=1), now=now
            )
        assert not any(paint[0] in c.examples for c in still_open)
    finally:
        engine.forget_entries([practice.id])
        with engine.database.session() as session:
            session.delete(session.get(Entry, practice.id))
            session.commit()


def test_a_gap_whose_assigned_gap_was_closed_shows_its_answer(engine: SearchEngine) -> None:
    now = utcnow()
    plant(engine, FORKLIFT[0], "f1", now - timedelta(days=3))
    plant(engine, FORKLIFT[1], "f2", now - timedelta(days=3))
    cluster = next(c for c in report(engine).clusters if FORKLIFT[0] in c.examples)
    with engine.database.session() as session:
        tutor = person(session, "peter.lindqvist")
        answer = session.scalars(select(Entry).where(Entry.kind == "practice")).first()
        assert answer is not None
        gap = assign_gap(
            session,
            tutor,
            GapToAssign(cluster.label, cluster.examples, cluster.size, cluster.centroid),
            "jonas.weber",
        )
        assert next(c for c in report(engine).clusters if FORKLIFT[0] in c.examples).assigned
        gap.state, gap.answer_id, gap.closed_at = "closed", answer.id, now
        session.commit()
        title = answer.title
    again = next(c for c in report(engine).clusters if FORKLIFT[0] in c.examples)
    assert again.answered_by is not None and again.answered_by.title == title
    # A search that failed after the gap was closed: its answer did not help, still a gap.
    plant(engine, FORKLIFT[2], "f3", now + timedelta(minutes=1))
    later = now + timedelta(minutes=2)
    still = next(c for c in report(engine, now=later).clusters if FORKLIFT[0] in c.examples)
    assert still.answered_by is None


@pytest.fixture(scope="module")
def app(demo: Path) -> Iterator[object]:
    with TestClient(create_app(make_settings(demo))) as client:
        yield client.app


def test_the_console_page_lists_people_searches_experts_first_and_a_filled_in_practice(
    engine: SearchEngine, app: object
) -> None:
    now = utcnow()
    for number, text in enumerate(FORKLIFT):
        plant(engine, text, f"w{number}", now - timedelta(hours=2), community="maintenance")
    plant(engine, FORKLIFT[0], "w0", now - timedelta(hours=1), community="maintenance")
    peter = SignedIn(app, "peter.lindqvist")
    page = peter.client.get("/console", params={"community": "maintenance"}).text
    row = page[page.index('<tr class="gap">') :]
    row = row[: row.index("</tr>")]
    assert "3 people, 4 searches" in row
    assert "forklift" in row.split("</strong>")[0]
    suggested = row.index('optgroup label="Suggested for this gap"')
    assert suggested < row.index('optgroup label="Everyone else"')
    first = row[suggested:].split("<option ")[1]
    assert " — " in first  # with why
    practice = row.split('class="small write-practice" href="')[1].split('"')[0]
    form = peter.client.get(practice.replace("&amp;", "&")).text
    title = form.split('id="title" name="title" maxlength="300" value="')[1].split('"')[0]
    assert "forklift" in title.lower() or "fork truck" in title.lower()
    body = form.split('<textarea id="body"')[1].split("</textarea>")[0]
    assert all(text in body for text in FORKLIFT)
    assert (
        'value="maintenance" selected' in form
        or "maintenance" in form.split('name="community"')[1][:2000]
    )
    worker = SignedIn(app, "tomas.novak")
    assert worker.client.get(practice.replace("&amp;", "&")).status_code == 403


def test_write_the_practice_from_the_inbox_opens_the_form_filled_in(
    engine: SearchEngine, app: object
) -> None:
    with engine.database.session() as session:
        tutor = person(session, "peter.lindqvist")
        vector = engine.embedder.encode(FORKLIFT).mean(axis=0)
        gap = assign_gap(
            session,
            tutor,
            GapToAssign("forklift, battery", FORKLIFT, 3, vector),
            "jonas.weber",
            community="maintenance",
        )
        gap_id = gap.id
    jonas = SignedIn(app, "jonas.weber")
    inbox = jonas.client.get("/inbox").text
    assert f'/gaps/{gap_id}/practice"' in inbox
    form = jonas.client.get(f"/gaps/{gap_id}/practice").text
    assert 'value="Forklift battery will not hold a charge overnight"' in form
    assert "forklift, battery" in form and all(text in form for text in FORKLIFT)
    assert SignedIn(app, "tomas.novak").client.get(f"/gaps/{gap_id}/practice").status_code == 403
    assert jonas.client.get("/gaps/999999/practice").status_code == 404


def test_the_feedback_form_tells_the_search_log_the_search_found_its_answer(
    engine: SearchEngine, app: object
) -> None:
    reader = SignedIn(app, "lena.hoffmann")
    page = reader.client.get("/search", params={"q": "spindle alarm on the lathe"}).text
    opened = page.split('class="hit-title" href="')[1].split('"')[0].replace("&amp;", "&")
    entry_page = reader.client.get(opened).text
    external_id = opened.split("/entries/")[1].split("?")[0]
    response = reader.client.post(
        f"/entries/{external_id}/feedback",
        data={"csrf_token": csrf_from(entry_page), "kind": "helpful"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    with engine.database.session() as session:
        row = session.scalars(select(SearchLog)).one()
        assert row.answered_entry_id == entry(session, external_id).id
