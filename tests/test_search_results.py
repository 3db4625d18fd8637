"""Search results that mean something: the relevance floor and the count it gives, sort,
the date filter, real names, answer and feedback counts, the page past the last, and
status facet labels (issue 17, point 10)."""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from indexer.embedder import Embedder
from kb.contributions import record_feedback
from kb.database import Database
from kb.models import Entry, FeedbackKind, Person
from kb.settings import Settings
from search.engine import SearchEngine, SearchSort
from search.filters import SearchFilters
from tests.conftest import make_settings
from web.app import create_app

LATHE = "lathe stops after warm-up"  # gave 100 "matches" of 143 entries before the floor
HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def client(demo_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(demo_home))) as client:
        yield client


# -- the floor and the count -------------------------------------------------------------


def test_a_five_word_query_counts_its_cases_not_most_of_the_corpus(
    demo_engine: SearchEngine,
) -> None:
    results = demo_engine.search(LATHE, limit=100)
    assert 5 <= results.total <= 25, results.total
    assert results.total == len(results.hits)
    assert {"MNT-P-001", "MNT-P-008"} <= {hit.id for hit in results.hits[:3]}
    # What only shares "after" or "up" with the query is not a match any more.
    assert not {hit.id for hit in results.hits} & {"TRN-S-005-1", "TRN-P-003", "MNT-G-004"}


def test_every_match_reaches_the_floor_on_a_retriever_that_found_it(
    demo_engine: SearchEngine,
) -> None:
    settings = demo_engine.settings
    for query in (LATHE, "how do I reset my password", "0x80070005"):
        hits = demo_engine.search(query, limit=100).hits
        dense, _ = demo_engine.dense_candidates(query, 200)
        keyword = demo_engine.keyword_candidates(query, 200)
        dense_floor = (
            max(settings.min_similarity, settings.match_share * dense[0][1]) if dense else 1
        )
        keyword_floor = settings.match_share * keyword[0][1] if keyword else float("inf")
        for hit in hits:
            by_meaning = hit.dense_score is not None and hit.dense_score >= dense_floor - 1e-6
            by_words = hit.keyword_score is not None and hit.keyword_score >= keyword_floor - 1e-6
            assert by_meaning or by_words, (query, hit.id, hit.dense_score, hit.keyword_score)


def test_without_the_floor_the_same_query_matches_most_of_the_corpus(
    demo_home: Path, embedder: Embedder
) -> None:
    settings = make_settings(demo_home, match_share=0.0, min_similarity=0.0)
    database = Database.from_settings(settings)
    engine = SearchEngine.open(settings, database, embedder)
    try:
        assert engine.search(LATHE, limit=10).total >= 80
    finally:
        engine.close()
        database.dispose()


def test_a_planted_part_number_is_one_or_two_matches(demo_engine: SearchEngine) -> None:
    results = demo_engine.search("SK-4471", limit=10)
    assert results.hits[0].id == "MNT-S-002-1" and results.total <= 2


def test_each_facet_count_is_what_clicking_it_shows(demo_engine: SearchEngine) -> None:
    results = demo_engine.search(LATHE, limit=10, with_facets=True)
    checked = 0
    for name in ("kind", "community", "status"):
        for value, count in results.facets[name]:
            narrowed = demo_engine.search(LATHE, SearchFilters(**{name: value}), limit=10)
            assert narrowed.total == count, (name, value)
            checked += 1
    assert checked >= 4


# -- sort and dates ----------------------------------------------------------------------


def test_newest_first_sorts_the_same_matches_by_date(demo_engine: SearchEngine) -> None:
    relevant = demo_engine.search(LATHE, limit=100)
    newest = demo_engine.search(LATHE, limit=100, sort=SearchSort.NEWEST)
    assert newest.total == relevant.total
    assert {h.id for h in newest.hits} == {h.id for h in relevant.hits}
    dates = [hit.created_at for hit in newest.hits]
    assert dates == sorted(dates, reverse=True)
    assert [h.id for h in newest.hits] != [h.id for h in relevant.hits]


def test_a_date_range_keeps_the_matches_written_in_it(demo_engine: SearchEngine) -> None:
    query = "machine stops and shows a fault"
    everything = demo_engine.search(query, limit=100).hits
    first, last = date(2025, 1, 1), date(2025, 12, 31)
    inside = {h.id for h in everything if first <= h.created_at.date() <= last}
    assert inside and len(inside) < len(everything)
    ranged = demo_engine.search(
        query, SearchFilters(created_from=first, created_to=last), limit=100
    )
    assert {h.id for h in ranged.hits} == inside and ranged.total == len(inside)


# -- what a hit shows ------------------------------------------------------------------


def test_hits_carry_real_names_and_answer_counts(demo_engine: SearchEngine) -> None:
    hit = next(h for h in demo_engine.search("0x80070005", limit=10).hits if h.id == "ITS-P-001")
    assert hit.accepted_solution is not None
    assert hit.accepted_solution.author == "david.chen"
    assert hit.accepted_solution.author_name == "David Chen"
    lathe = next(h for h in demo_engine.search(LATHE, limit=10).hits if h.id == "MNT-P-001")
    assert lathe.answers == 2 and lathe.author_name and lathe.author_name != lathe.author


def test_hits_count_helpful_votes_and_reuse(demo_copy: Settings, embedder: Embedder) -> None:
    database = Database.from_settings(demo_copy)
    engine = SearchEngine.open(demo_copy, database, embedder)
    try:
        with database.session() as session:
            entry = session.scalar(select(Entry).where(Entry.external_id == "MNT-S-002-1"))
            assert entry is not None
            others = session.scalars(select(Person).where(Person.id != entry.author_id)).all()
            for person in others[:3]:
                record_feedback(session, person, entry, FeedbackKind.HELPFUL)
            record_feedback(session, others[0], entry, FeedbackKind.REUSE)
        hit = engine.search("SK-4471", limit=1).hits[0]
        assert (hit.id, hit.helpful, hit.reused) == ("MNT-S-002-1", 3, 1)
    finally:
        engine.close()
        database.dispose()


# -- the page and the API -----------------------------------------------------------------


def hit_ids(page: str) -> list[str]:
    return re.findall(r'<span class="hit-id">([^<]+)</span>', page)


def test_the_page_counts_matches_and_sorts_by_newest(client: TestClient) -> None:
    page = client.get("/search", params={"q": LATHE}).text
    total = int(re.search(r"(\d+) match", page).group(1))  # type: ignore[union-attr]
    api = client.get("/api/search", params={"q": LATHE, "limit": 100}).json()
    assert total == api["total"] == len(api["hits"]) and total <= 25
    newest = client.get("/search", params={"q": LATHE, "sort": "newest"}).text
    assert '<option value="newest" selected>' in newest
    api_newest = client.get("/api/search", params={"q": LATHE, "sort": "newest"}).json()
    assert api_newest["sort"] == "newest"
    assert hit_ids(newest) == [hit["id"] for hit in api_newest["hits"]]
    dates = [hit["created_at"] for hit in api_newest["hits"]]
    assert dates == sorted(dates, reverse=True)
    # The next page keeps the sort.
    assert "sort=newest" in re.search(r'href="([^"]+)" rel="next"', newest).group(1)  # type: ignore[union-attr]


def test_the_date_filter_in_the_page_and_the_api(client: TestClient) -> None:
    # The same matches, less those written at other times (fusion ranks within what
    # passes the filters, so their order may differ).
    query = {"q": "machine stops and shows a fault", "limit": 100}
    everything = client.get("/api/search", params=query).json()["hits"]
    days = {"from": "2025-01-01", "to": "2025-12-31"}
    ranged = client.get("/api/search", params={**query, **days}).json()
    expected = {h["id"] for h in everything if "2025-01-01" <= h["created_at"][:10] <= "2025-12-31"}
    assert expected and len(expected) < len(everything)
    assert {h["id"] for h in ranged["hits"]} == expected and ranged["total"] == len(expected)
    cutoff = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    recent = client.get("/api/search", params={**query, "since": "30d"}).json()
    assert {h["id"] for h in recent["hits"]} == {
        h["id"] for h in everything if h["created_at"][:10] >= cutoff
    }
    page = client.get("/search", params={"q": query["q"], **days}).text
    shown = hit_ids(page)
    assert set(shown) <= expected and len(shown) == min(10, len(expected))
    assert 'name="from" value="2025-01-01"' in page


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"from": "2025-06-01", "to": "2025-01-01"}, 400, "is after the last day"),
        ({"since": "30d", "from": "2025-01-01"}, 400, "not both"),
        ({"since": "week"}, 422, "since"),
        ({"sort": "oldest"}, 422, "sort"),
        ({"from": "yesterday"}, 422, "from"),
    ],
)
def test_bad_sort_or_dates_get_a_4xx_with_a_reason(
    client: TestClient, params: dict[str, str], status: int, reason: str
) -> None:
    api = client.get("/api/search", params={"q": "lathe", **params})
    assert api.status_code == status and reason in api.json()["error"]["message"]
    page = client.get("/search", params={"q": "lathe", **params}, headers=HTML)
    assert page.status_code == status and reason in page.text


def test_hits_show_real_names_and_counts(client: TestClient) -> None:
    page = client.get("/search", params={"q": "0x80070005"}).text
    assert ">David Chen</a>" in page and ">david.chen</a>" not in page
    assert '/people/david.chen">David Chen</a>' in page
    lathe = client.get("/search", params={"q": LATHE}).text
    assert "2 answers" in lathe and "found it helpful" in lathe and "reused 0 times" in lathe
    hit = next(
        h
        for h in client.get("/api/search", params={"q": LATHE}).json()["hits"]
        if h["id"] == "MNT-P-001"
    )
    assert hit["answers"] == 2 and hit["helpful_count"] == 0 and hit["reuse_count"] == 0
    assert hit["author_name"] and hit["author_name"] != hit["author"]


def test_a_page_past_the_last_says_so_and_links_to_the_first(client: TestClient) -> None:
    page = client.get("/search", params={"q": LATHE, "page": 99}).text
    assert "No more results" in page and "Nobody has written this down" not in page
    assert re.search(r'href="/search\?q=lathe[^"]*page=1"', page)
    empty = client.get("/search", params={"q": "zzqx qwfpgj", "page": 3}).text
    assert "Nobody has written this down" in empty and "No more results" not in empty


def test_the_status_facet_says_what_statuses_mean(client: TestClient) -> None:
    page = client.get("/search", params={"q": "checklist"}).text
    facets = page[page.index('class="facets"') :]
    status = facets[facets.index("<h3>status</h3>") :]
    status = status[: status.index("</ul>")]
    assert ">Shared</a>" in status and "status=community" in status
    assert ">community</a>" not in status
    filtered = client.get("/search", params={"q": "checklist", "status": "community"}).text
    assert "status: Shared ×" in filtered
