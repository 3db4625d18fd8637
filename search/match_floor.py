"""What counts as a match: the relevance floor under which a retrieved entry is left out.

Each retriever ranks every entry that shares a word with the query or lies anywhere
near it in meaning, so without a floor a five-word query "matches" a third of the
knowledge base. An entry is a match when, on a retriever that found it, it scores at
least KB_MATCH_SHARE of the best score that retriever gave an entry the searcher may
see; by meaning it must also reach KB_MIN_SIMILARITY (search/dense.py applies it), so
that a query nothing answers has no matches. A share of the best has the same sense
for cosine similarity, SQLite's BM25 and PostgreSQL's ts_rank_cd, whose scales differ.

An entry that matches only one way is ranked by that way alone. The best scores are
taken before the search's own filters (kind, community, tag, status, dates), so that
a facet's count is what clicking it shows. The share was chosen on SemEval dev
(bench/match_floor.py; BENCHMARKS.md, "What counts as a match").
"""

from collections.abc import Container


def relative_floor(
    ranking: list[tuple[int, float]], visible: Container[int], share: float
) -> float | None:
    """The lowest score that is a match: `share` of the best one in the ranking (best
    first) that the searcher may see; None (no floor) when they may see none of it, or
    the share is 0."""
    if share <= 0:
        return None
    best = next((score for entry_id, score in ranking if entry_id in visible), None)
    return None if best is None else best * share


def above(ranking: list[tuple[int, float]], floor: float | None) -> list[tuple[int, float]]:
    """The entries of a ranking that reach the floor."""
    if floor is None:
        return ranking
    return [(entry_id, score) for entry_id, score in ranking if score >= floor]
