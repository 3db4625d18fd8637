"""Hybrid search: dense (FAISS) and keyword (BM25) rankings fused by reciprocal rank.

The dense side finds paraphrases; the keyword side finds exact error codes and
part numbers that the model blurs. An entry scores by its best passage.

`SearchEngine` puts the parts together; each is a module of its own:
indexer/live_index.py keeps the vector store current with the database,
search/dense.py and search/keyword.py retrieve, search/candidates.py applies the
filters (search/filters.py) to what they found, search/fusion.py makes one
ranking of the two, and search/hits.py turns a page of it into hits with
snippets (search/snippets.py) and facets.
"""

import numpy as np

from indexer.embedder import Embedder
from indexer.live_index import IndexSummary, LiveIndex
from kb.database import Database
from kb.settings import Settings
from search.candidates import CandidateSearch, KeywordRetriever
from search.dense import DenseRetriever, QueryCache
from search.filters import SearchFilters
from search.fusion import RankFusion
from search.hits import SearchHit, SearchResults, facets, hydrate
from search.keyword import keyword_index_for
from search.query import QueryError, SearchMode, SearchSort, validate_query

# What callers need of search, from one place (web/, kb/cli/, tests).
__all__ = [
    "QueryError",
    "SearchEngine",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "SearchSort",
    "validate_query",
]


class SearchEngine:
    def __init__(
        self, settings: Settings, database: Database, embedder: Embedder, live_index: LiveIndex
    ) -> None:
        self.settings = settings
        self.database = database
        self.embedder = embedder
        self.live_index = live_index
        self.query_cache = QueryCache(settings.query_cache_size)
        self.dense = DenseRetriever(live_index, embedder, self.query_cache, settings.min_similarity)
        self.keyword = KeywordRetriever(
            database.engine, keyword_index_for(database, settings.keyword_common_entries)
        )
        self.candidates = CandidateSearch(database.engine, self.dense, self.keyword)
        self.fusion = RankFusion.from_settings(settings)

    @classmethod
    def open(cls, settings: Settings, database: Database, embedder: Embedder) -> "SearchEngine":
        """Load the saved index, catching up on anything the database has that it lacks.

        Raises IndexModelMismatch if the saved index comes from another model.
        """
        return cls(settings, database, embedder, LiveIndex.open(settings, database, embedder))

    def close(self) -> None:
        """Stop the keyword-search thread (searches still running finish first)."""
        self.candidates.close()

    def describe_index(self) -> IndexSummary:
        """The index searched now, for reports: its size, type, model and generation."""
        return self.live_index.summary()

    def index_entries(self, entry_ids: list[int]) -> None:
        """Embed new or edited entries and make them searchable at once."""
        self.live_index.index_entries(entry_ids)

    def forget_entries(self, entry_ids: list[int]) -> None:
        self.live_index.forget_entries(entry_ids)

    def catch_up(self) -> None:
        """Pick up vectors other processes stored (at most one check a second)."""
        self.live_index.catch_up()

    def search(
        self,
        query: str,
        filters: SearchFilters | None = None,
        limit: int = 10,
        offset: int = 0,
        mode: SearchMode = SearchMode.HYBRID,
        with_facets: bool = False,
        sort: SearchSort = SearchSort.RELEVANCE,
        relevance_floor: bool = True,
    ) -> SearchResults:
        """The matches of the query (those above the relevance floor, search/match_floor.py,
        unless `relevance_floor` is off) that pass the filters: `total` counts them, `hits`
        is one page of them."""
        text = validate_query(query, self.settings.max_query_chars)
        self.catch_up()
        filters = filters or SearchFilters()
        wanted = max(self.settings.search_candidates, offset + limit)
        share = self.settings.match_share if relevance_floor else 0.0
        found = self.candidates.find(text, filters, wanted, mode, share)
        fused = self.fusion.fuse(found.dense, found.keyword, mode)
        ranking = self.fusion.boost_repertoire(fused, found.statuses)
        if sort == SearchSort.NEWEST:
            ranking.sort(
                key=lambda item: (found.passing[item[0]].created_at, item[0]), reverse=True
            )
        page = ranking[offset : offset + limit]
        hits = hydrate(
            self.database.engine,
            text,
            page,
            dict(found.dense),
            dict(found.keyword),
            filters.hidden_communities,
        )
        counts = facets(self.database.engine, [e for e, _ in ranking]) if with_facets else {}
        return SearchResults(text, mode, len(ranking), offset, limit, hits, counts, sort)

    def dense_candidates(self, text: str, wanted: int) -> tuple[list[tuple[int, float]], bool]:
        """Entries by their best passage's similarity, and whether that is all similar enough."""
        return self.dense.candidates(text, wanted)

    def keyword_candidates(self, text: str, limit: int) -> list[tuple[int, float]]:
        return self.keyword.candidates(text, limit)

    def query_vector(self, text: str) -> np.ndarray:
        """The query's vector (1, dim), from the query cache when it was asked lately."""
        return self.dense.query_vector(text)
