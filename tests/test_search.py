"""Hybrid search on the demo corpus: codes, paraphrases, filters, snippets, bad queries."""

from pathlib import Path

import pytest

from indexer.embedder import Embedder
from kb.database import Database
from search.engine import QueryError, SearchEngine, SearchMode
from search.filters import SearchFilters
from tests.conftest import make_settings


def top(engine: SearchEngine, query: str, n: int = 3, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.id for hit in engine.search(query, limit=n, **kwargs).hits]


def test_exact_part_number_is_found_where_the_model_alone_misses_it(
    demo_engine: SearchEngine,
) -> None:
    assert top(demo_engine, "SK-4471", 1) == ["MNT-S-002-1"]
    assert top(demo_engine, "SK-4471", 1, mode=SearchMode.KEYWORD) == ["MNT-S-002-1"]
    assert "MNT-S-002-1" not in top(demo_engine, "SK-4471", 5, mode=SearchMode.DENSE)


def test_exact_error_code_finds_its_problem(demo_engine: SearchEngine) -> None:
    assert "ITS-P-001" in top(demo_engine, "0x80070005")


def test_paraphrase_finds_the_case_without_sharing_its_words(demo_engine: SearchEngine) -> None:
    hits = top(demo_engine, "air compressor switches itself off when the weather is warm", 3)
    assert {"MNT-P-004", "MNT-P-010"} & set(hits)
    hits = top(demo_engine, "people stop coming to my night class after a few weeks", 3)
    assert {"TRN-P-002", "TRN-P-012"} & set(hits)


def test_problem_hits_carry_their_accepted_solution(demo_engine: SearchEngine) -> None:
    hit = next(h for h in demo_engine.search("0x80070005", limit=5).hits if h.id == "ITS-P-001")
    assert hit.status == "solved"
    assert hit.accepted_solution is not None and hit.accepted_solution.author == "david.chen"


def test_filters_restrict_every_retriever(demo_engine: SearchEngine) -> None:
    results = demo_engine.search("checklist", SearchFilters(kind="practice"), limit=20)
    assert results.hits and {h.kind for h in results.hits} == {"practice"}
    results = demo_engine.search("alarm", SearchFilters(community="maintenance"), limit=20)
    assert results.hits and {h.community for h in results.hits} == {"maintenance"}
    results = demo_engine.search("alarm", SearchFilters(status="open", kind="problem"), limit=20)
    assert results.hits and {h.status for h in results.hits} == {"open"}
    results = demo_engine.search("connection", SearchFilters(tag="vpn"), limit=20)
    assert results.hits and all("vpn" in h.tags for h in results.hits)
    assert not demo_engine.search("vpn", SearchFilters(community="no-such"), limit=5).hits


@pytest.mark.parametrize("mode", [SearchMode.KEYWORD, SearchMode.DENSE])
def test_a_retriever_whose_first_matches_are_filtered_out_is_asked_for_more(
    demo_home: Path, embedder: Embedder, mode: SearchMode
) -> None:
    # With one candidate wanted, each retriever ranks only its first few matches before
    # the filters apply: an entry far down the ranking must still be found. Without the
    # relevance floor, for a ranking deep enough to have a far end.
    settings = make_settings(demo_home, search_candidates=1, match_share=0.0)
    database = Database.from_settings(settings)
    try:
        engine = SearchEngine.open(settings, database, embedder)
        query = "machine stops and shows a fault"
        ranking = engine.search(query, limit=100, mode=mode).hits
        first_tags = {tag for hit in ranking[:15] for tag in hit.tags}
        tag = next(tag for hit in ranking[15:] for tag in hit.tags if tag not in first_tags)
        hits = engine.search(query, SearchFilters(tag=tag), limit=1, mode=mode).hits
        assert len(hits) == 1 and tag in hits[0].tags
    finally:
        database.dispose()


def test_pages_do_not_overlap(demo_engine: SearchEngine) -> None:
    first = top(demo_engine, "machine stops", 5)
    second = [h.id for h in demo_engine.search("machine stops", limit=5, offset=5).hits]
    assert len(second) == 5 and not set(first) & set(second)


def test_snippet_marks_the_matched_terms(demo_engine: SearchEngine) -> None:
    hit = demo_engine.search("seal kit SK-4471", limit=1).hits[0]
    marked = [hit.snippet.text[a:b].lower() for a, b in hit.snippet.highlights]
    assert "4471" in marked and "seal" in marked


@pytest.mark.parametrize("query", ["", "   ", "x" * 1001])
def test_empty_or_overlong_query_is_refused_with_a_reason(
    demo_engine: SearchEngine, query: str
) -> None:
    with pytest.raises(QueryError) as caught:
        demo_engine.search(query)
    assert "empty" in str(caught.value) or "limit is 1000" in str(caught.value)
