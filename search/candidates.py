"""A query's candidates: the entries each retriever found that pass the filters.

Both retrievers rank without the filters, which one query then applies to what
they found together; a retriever left with too few is asked for four times as
many, until it has enough or has nothing more to give. Only matches count: what
falls under the relevance floor (search/match_floor.py) is left out.
"""

import math
import os
import threading
import time
from collections.abc import Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from kb.models import Community, Entry
from search.dense import DenseRetriever
from search.filters import Passing, SearchFilters, passing_entries
from search.keyword import KeywordIndex
from search.match_floor import above, relative_floor
from search.query import SearchMode

CORES = os.cpu_count() or 1


@dataclass
class Candidates:
    dense: list[tuple[int, float]]  # (entry id, cosine similarity), best first
    keyword: list[tuple[int, float]]  # (entry id, BM25 score), best first
    passing: dict[int, Passing]  # entry id -> status and date, of every candidate that passed

    @property
    def statuses(self) -> dict[int, str]:
        return {entry_id: entry.status for entry_id, entry in self.passing.items()}


class KeywordRetriever:
    """BM25 over the keyword index (search/keyword.py), each search on its own connection."""

    def __init__(self, engine: Engine, index: KeywordIndex) -> None:
        self.engine = engine
        self.index = index

    def candidates(self, text: str, limit: int) -> list[tuple[int, float]]:
        with self.engine.connect() as connection:
            return self.index.search(connection, text, limit)


class CandidateSearch:
    def __init__(
        self,
        engine: Engine,
        dense: DenseRetriever,
        keyword: KeywordRetriever,
    ) -> None:
        self.engine = engine
        self.dense = dense
        self.keyword = keyword
        self._keyword_executor = ThreadPoolExecutor(thread_name_prefix="keyword-search")
        self._searching = InFlight()
        self.shares = CommunityShares(engine)

    def close(self) -> None:
        """Stop the keyword-search thread (searches still running finish first)."""
        self._keyword_executor.shutdown()

    def first_depth(self, wanted: int, filters: SearchFilters) -> int:
        """How many to ask each retriever for at first. Private communities the searcher
        may not see hide their share of every ranking: asking for that much more at once
        saves a second, four times deeper round for most searches."""
        if not filters.hidden_communities:
            return wanted
        hidden = self.shares.hidden_share(filters.hidden_communities)
        return math.ceil(wanted / max(0.05, 1.0 - hidden) * 1.1)

    def find(
        self, text: str, filters: SearchFilters, wanted: int, mode: SearchMode, share: float
    ) -> Candidates:
        """Up to `wanted` matches from each retriever of the mode, best first: the entries
        scoring at least `share` of the retriever's best (search/match_floor.py)."""
        with self._searching:
            return self._find(text, filters, wanted, mode, share)

    def _find(
        self, text: str, filters: SearchFilters, wanted: int, mode: SearchMode, share: float
    ) -> Candidates:
        use_dense, use_keyword = mode.uses_dense, mode.uses_keyword
        dense_found: list[tuple[int, float]] = []
        keyword_found: list[tuple[int, float]] = []
        dense_depth = keyword_depth = self.first_depth(wanted, filters)
        while True:
            # The keyword side waits on the database and the dense side on the model,
            # both outside the GIL: side by side, a search takes as long as the slower,
            # when a core is free for it. On a busy server other searches use the cores
            # and handing work between threads only costs.
            keyword_future = (
                self._keyword_executor.submit(self.keyword.candidates, text, keyword_depth)
                if use_keyword and use_dense and self._searching.count <= CORES // 2
                else None
            )
            if use_dense:
                dense_found, dense_all = self.dense.candidates(text, dense_depth)
            if use_keyword:
                keyword_found = (
                    keyword_future.result()
                    if keyword_future is not None
                    else self.keyword.candidates(text, keyword_depth)
                )
                keyword_all = len(keyword_found) < keyword_depth
            found = {entry_id for entry_id, _ in dense_found}
            found.update(entry_id for entry_id, _ in keyword_found)
            passing = passing_entries(self.engine, filters, found)
            visible = self.floor_reference(filters, passing, found) if share > 0 else passing
            dense_floor = relative_floor(dense_found, visible, share)
            keyword_floor = relative_floor(keyword_found, visible, share)
            # Scores only fall further down a ranking: past its floor, nothing more matches.
            if dense_floor is not None and dense_found[-1][1] < dense_floor:
                dense_all = True
            if keyword_floor is not None and keyword_found[-1][1] < keyword_floor:
                keyword_all = True
            dense = [
                (entry_id, s)
                for entry_id, s in above(dense_found, dense_floor)
                if entry_id in passing
            ]
            keyword = [
                (entry_id, s)
                for entry_id, s in above(keyword_found, keyword_floor)
                if entry_id in passing
            ]
            use_dense = use_dense and len(dense) < wanted and not dense_all
            use_keyword = use_keyword and len(keyword) < wanted and not keyword_all
            if not (use_dense or use_keyword):
                return Candidates(dense[:wanted], keyword[:wanted], passing)
            dense_depth *= 4 if use_dense else 1
            keyword_depth *= 4 if use_keyword else 1

    def floor_reference(
        self, filters: SearchFilters, passing: dict[int, Passing], found: set[int]
    ) -> Container[int]:
        """The entries whose best score sets the relevance floor: those everyone may see
        (outside members-only communities), whatever the searcher narrows by, so that a
        facet's count is what clicking it shows, and a member and a non-member count the
        entries both see alike (and nothing private moves anyone's floor). When none of
        those was found: the ones the searcher may see."""
        with self.engine.connect() as connection:
            private = frozenset(connection.scalars(PRIVATE_COMMUNITIES).all())
        everyone = SearchFilters(include_hidden=filters.include_hidden, hidden_communities=private)
        reference = (
            passing if everyone == filters else passing_entries(self.engine, everyone, found)
        )
        if reference:
            return reference
        searcher = filters.unnarrowed()
        return passing if searcher == filters else passing_entries(self.engine, searcher, found)


PRIVATE_COMMUNITIES = select(Community.id).where(Community.private)


class CommunityShares:
    """The share of all entries each community holds, counted at most once a minute (it
    only tunes how deep to look first; a stale share costs time, never a result)."""

    REFRESH_SECONDS = 60.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._shares: dict[int, float] = {}
        self._counted_at = -math.inf
        self._lock = threading.Lock()

    def hidden_share(self, hidden: frozenset[int]) -> float:
        with self._lock:
            if time.monotonic() - self._counted_at > self.REFRESH_SECONDS:
                self._shares = self._count()
                self._counted_at = time.monotonic()
            return sum(self._shares.get(community_id, 0.0) for community_id in hidden)

    def _count(self) -> dict[int, float]:
        statement = select(Entry.community_id, func.count()).group_by(Entry.community_id)
        with self.engine.connect() as connection:
            counts = {int(cid): int(n) for cid, n in connection.execute(statement)}
        total = sum(counts.values()) or 1
        return {cid: n / total for cid, n in counts.items()}


class InFlight:
    """Counts the threads inside a `with` block."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self.count -= 1
