"""Hybrid search: dense (FAISS) and keyword (BM25) rankings fused by reciprocal rank.

The dense side finds paraphrases; the keyword side finds exact error codes and
part numbers that the model blurs. An entry scores by its best passage.
"""

import os
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from indexer.embedder import Embedder
from indexer.passages import PassageSplitter
from indexer.pipeline import (
    build_index,
    embed_and_store,
    index_params,
    reindex,
    stored_vectors_of,
)
from indexer.vector_index import VectorIndex, entry_ids_of, read_meta
from kb.database import Database
from kb.index_state import changed_since
from kb.models import Community, Entry, EntryKind, EntryStatus, IndexState, Person
from kb.settings import Settings
from search.filters import SearchFilters, allowed_statuses
from search.keyword import KeywordIndex, keyword_index_for
from search.snippets import Snippet, make_snippet, plain_text

CATCH_UP_SECONDS = 1.0
# A results page as plain rows, not ORM objects. The statements are made once: building
# them, and their aliased tables above all, costs more than running them.
_solved, _solver, _solution = aliased(Entry), aliased(Person), aliased(Entry)
PAGE_ROWS = (
    select(
        Entry.id,
        Entry.external_id,
        Entry.kind,
        Entry.title,
        Entry.body,
        Entry.status,
        Entry.tags,
        Entry.created_at,
        Community.slug.label("community"),
        Person.handle.label("author"),
        _solved.external_id.label("solves"),
    )
    .join(Community, Community.id == Entry.community_id)
    .join(Person, Person.id == Entry.author_id)
    .outerjoin(_solved, _solved.id == Entry.solves_id)
    .where(Entry.id.in_(bindparam("ids", expanding=True)))
)
ACCEPTED_SOLUTIONS = (
    select(_solution.solves_id, _solution.external_id, _solution.title, _solver.handle)
    .join(_solver, _solver.id == _solution.author_id)
    .where(_solution.solves_id.in_(bindparam("ids", expanding=True)), _solution.accepted)
    .order_by(_solution.id)
)
# More entries changed than this since the live index was built: rebuild it instead.
MAX_CHANGES_APPLIED = 5_000
CORES = os.cpu_count() or 1


class QueryError(ValueError):
    """A query that cannot be searched; the message says why."""


class SearchMode(StrEnum):
    HYBRID = "hybrid"
    DENSE = "dense"
    KEYWORD = "keyword"


def validate_query(query: str | None, max_chars: int) -> str:
    text = (query or "").strip()
    if not text:
        raise QueryError("the query is empty: type a few words describing what you look for")
    if len(text) > max_chars:
        raise QueryError(
            f"the query is {len(text)} characters long; the limit is {max_chars}. "
            "Shorten it to the essential words or error codes."
        )
    return text


@dataclass
class AcceptedSolution:
    id: str
    title: str
    author: str


@dataclass
class SearchHit:
    id: str
    kind: str
    title: str
    status: str
    community: str
    author: str
    tags: list[str]
    created_at: datetime
    score: float
    dense_score: float | None
    keyword_score: float | None
    snippet: Snippet
    accepted_solution: AcceptedSolution | None = None
    solves: str | None = None


@dataclass
class SearchResults:
    query: str
    mode: SearchMode
    total: int
    offset: int
    limit: int
    hits: list[SearchHit] = field(default_factory=list)
    # facet name -> [(value, count)], over every match, not only this page
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def build_splitter(settings: Settings, embedder: Embedder) -> PassageSplitter:
    return PassageSplitter(
        embedder.model_path / "tokenizer.json",
        settings.passage_tokens,
        settings.passage_overlap_tokens,
    )


class SearchEngine:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        embedder: Embedder,
        index: VectorIndex,
    ) -> None:
        self.settings = settings
        self.database = database
        self.embedder = embedder
        self.index = index
        self.splitter = build_splitter(settings, embedder)
        self.keyword_index: KeywordIndex = keyword_index_for(
            database, settings.keyword_common_entries
        )
        self._lock = threading.RLock()
        self._rebuild_lock = threading.Lock()
        self._checked_generation_at = float("-inf")
        self.query_cache = QueryCache(settings.query_cache_size)
        self._keyword_executor = ThreadPoolExecutor(thread_name_prefix="keyword-search")
        self._searching = InFlight()

    @classmethod
    def open(cls, settings: Settings, database: Database, embedder: Embedder) -> "SearchEngine":
        """Load the saved index, catching up on anything the database has that it lacks.

        Raises IndexModelMismatch if the saved index comes from another model.
        """
        params = index_params(settings)
        index = VectorIndex.load(
            settings.index_dir, embedder.model_id, settings.ivf_nprobe, settings.index_mmap
        )
        splitter = build_splitter(settings, embedder)
        if index is None or _unembedded_entries(database, embedder.model_id):
            reindex(database, embedder, splitter, settings.index_dir, params=params)
            index = VectorIndex.load(
                settings.index_dir, embedder.model_id, settings.ivf_nprobe, settings.index_mmap
            )
        assert index is not None
        engine = cls(settings, database, embedder, index)
        engine.catch_up()  # the saved index may be behind the database
        return engine

    def close(self) -> None:
        """Stop the keyword-search thread (searches still running finish first)."""
        self._keyword_executor.shutdown()

    # -- keeping the live index current ---------------------------------------------

    def index_entries(self, entry_ids: list[int]) -> None:
        """Embed new or edited entries and make them searchable at once."""
        with self.database.session() as session:
            entries = list(session.scalars(select(Entry).where(Entry.id.in_(entry_ids))))
            embedded = embed_and_store(session, entries, self.embedder, self.splitter)
            session.commit()
            generation = session.scalar(select(IndexState.generation)) or 0
        with self._lock:
            self.index.remove_entries(entry_ids)
            for item in embedded:
                self.index.add(item.keys, item.vectors)
            # Only if nothing else changed meanwhile: other changes are for catch_up.
            if generation == self.index.generation + 1:
                self.index.generation = generation

    def catch_up(self) -> None:
        """Pick up vectors another process stored (`kb import`, `kb reindex`, another worker).

        The database's index generation changes whenever stored vectors do; the
        check is one tiny query, made at most once per CATCH_UP_SECONDS.
        """
        now = time.monotonic()
        if now - self._checked_generation_at < CATCH_UP_SECONDS:
            return
        self._checked_generation_at = now
        if self.database.index_generation() == self.index.generation:
            return
        with self._rebuild_lock:
            generation = self.database.index_generation()
            if generation == self.index.generation:
                return
            if self._apply_changes(generation):
                return
            # Built aside while searches go on with the current index, then swapped in.
            # Entries indexed meanwhile have a newer generation: the next check picks them up.
            meta = read_meta(self.settings.index_dir)
            index: VectorIndex | None = None
            if meta and meta.generation == generation and meta.model_id == self.embedder.model_id:
                # `kb reindex` or `kb import` saved an index of exactly this data.
                index = VectorIndex.load(
                    self.settings.index_dir,
                    self.embedder.model_id,
                    self.settings.ivf_nprobe,
                    self.settings.index_mmap,
                )
            if index is None or index.generation != generation:
                index = build_index(
                    self.database,
                    self.embedder.dim,
                    self.embedder.model_id,
                    index_params(self.settings),
                    trained=self.index,  # IVF: reuse its cells rather than train in a server
                )
            with self._lock:
                self.index = index

    def _apply_changes(self, generation: int) -> bool:
        """Bring the live index to `generation` by re-reading only the entries whose
        vectors changed since its own; False when the change log cannot tell which
        (it keeps the last CHANGES_KEPT generations) or when they are too many."""
        with self.database.session() as session:
            changed = changed_since(session, self.index.generation, generation)
            if changed is None or len(changed) > MAX_CHANGES_APPLIED:
                return False
            keys, vectors = stored_vectors_of(
                session, self.embedder.model_id, self.embedder.dim, changed
            )
        with self._lock:
            self.index.remove_entries(changed)
            self.index.add(keys, vectors)
            self.index.generation = generation
        return True

    def forget_entries(self, entry_ids: list[int]) -> None:
        with self._lock:
            self.index.remove_entries(entry_ids)

    # -- searching ------------------------------------------------------------------

    def search(
        self,
        query: str,
        filters: SearchFilters | None = None,
        limit: int = 10,
        offset: int = 0,
        mode: SearchMode = SearchMode.HYBRID,
        with_facets: bool = False,
    ) -> SearchResults:
        text = validate_query(query, self.settings.max_query_chars)
        self.catch_up()
        filters = filters or SearchFilters()
        wanted = max(self.settings.search_candidates, offset + limit)
        with self._searching:
            dense, keyword, statuses = self._candidates(text, filters, wanted, mode)
        fused = self._boost_repertoire(self._fuse(dense, keyword, mode), statuses)
        page = fused[offset : offset + limit]
        dense_scores, keyword_scores = dict(dense), dict(keyword)
        hits = self._hydrate(text, page, dense_scores, keyword_scores)
        facets = self._facets([entry_id for entry_id, _ in fused]) if with_facets else {}
        return SearchResults(text, mode, len(fused), offset, limit, hits, facets)

    def _facets(self, entry_ids: list[int]) -> dict[str, list[tuple[str, int]]]:
        counters: dict[str, Counter[str]] = {
            name: Counter() for name in ("kind", "community", "status", "tag")
        }
        with self.database.session() as session:
            rows = session.execute(
                select(Entry.kind, Community.slug, Entry.status, Entry.tags)
                .join(Community, Community.id == Entry.community_id)
                .where(Entry.id.in_(entry_ids))
            )
            for kind, community, status, tags in rows:
                counters["kind"][kind] += 1
                counters["community"][community] += 1
                counters["status"][status] += 1
                counters["tag"].update(tags)
        return {name: counter.most_common(12) for name, counter in counters.items()}

    def _candidates(
        self, text: str, filters: SearchFilters, wanted: int, mode: SearchMode
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]], dict[int, str]]:
        """Up to `wanted` entries from each retriever that pass the filters, best first,
        and the status of each (for the repertoire boost).

        Both retrievers rank without the filters, which one query then applies to what
        they found together; a retriever left with too few is asked for four times as
        many, until it has enough or has nothing more to give.
        """
        use_dense = mode in (SearchMode.HYBRID, SearchMode.DENSE)
        use_keyword = mode in (SearchMode.HYBRID, SearchMode.KEYWORD)
        dense_found: list[tuple[int, float]] = []
        keyword_found: list[tuple[int, float]] = []
        dense_depth = keyword_depth = wanted
        while True:
            # The keyword side waits on the database and the dense side on the model,
            # both outside the GIL: side by side, a search takes as long as the slower,
            # when a core is free for it. On a busy server other searches use the cores
            # and handing work between threads only costs.
            keyword_future = (
                self._keyword_executor.submit(self.keyword_candidates, text, keyword_depth)
                if use_keyword and use_dense and self._searching.count <= CORES // 2
                else None
            )
            if use_dense:
                dense_found, dense_all = self.dense_candidates(text, dense_depth)
            if use_keyword:
                keyword_found = (
                    keyword_future.result()
                    if keyword_future is not None
                    else self.keyword_candidates(text, keyword_depth)
                )
                keyword_all = len(keyword_found) < keyword_depth
            found = {entry_id for entry_id, _ in dense_found}
            found.update(entry_id for entry_id, _ in keyword_found)
            allowed = allowed_statuses(filters, self.database.engine.dialect.name)
            with self.database.engine.connect() as connection:
                statuses: dict[int, str] = dict(
                    connection.execute(allowed, {"found": list(found)}).all()
                )
            dense = [(entry_id, s) for entry_id, s in dense_found if entry_id in statuses]
            keyword = [(entry_id, s) for entry_id, s in keyword_found if entry_id in statuses]
            use_dense = use_dense and len(dense) < wanted and not dense_all
            use_keyword = use_keyword and len(keyword) < wanted and not keyword_all
            if not (use_dense or use_keyword):
                return dense[:wanted], keyword[:wanted], statuses
            dense_depth *= 4 if use_dense else 1
            keyword_depth *= 4 if use_keyword else 1

    def keyword_candidates(self, text: str, limit: int) -> list[tuple[int, float]]:
        with self.database.engine.connect() as connection:
            return self.keyword_index.search(connection, text, limit)

    def dense_candidates(self, text: str, wanted: int) -> tuple[list[tuple[int, float]], bool]:
        """Entries by their best passage's cosine similarity (at least KB_MIN_SIMILARITY),
        best first, from the passages nearest to the query (enough for about `wanted`
        entries); and whether that is every entry similar enough."""
        vector = self.query_vector(text)
        k = wanted * 3 + 10  # an entry may have several passages among the nearest
        with self._lock:
            total = len(self.index)
            scores, keys = self.index.search(vector, min(k, total))
        best: dict[int, float] = {}
        floor = self.settings.min_similarity
        for score, entry_id in zip(scores[0].tolist(), entry_ids_of(keys[0]).tolist(), strict=True):
            if entry_id >= 0 and entry_id not in best and score >= floor:
                best[entry_id] = float(score)
        every = k >= total or (len(scores[0]) > 0 and scores[0][-1] < floor)
        return list(best.items()), every

    def query_vector(self, text: str) -> np.ndarray:
        """The query's vector (1, dim): from the cache if the same text was asked lately."""
        vector = self.query_cache.get(text)
        if vector is None:
            vector = self.embedder.encode([text])
            self.query_cache.put(text, vector)
        return vector

    def _boost_repertoire(
        self, ranking: list[tuple[int, float]], statuses: dict[int, str]
    ) -> list[tuple[int, float]]:
        """Standard and validated content first among equals (KB_*_BOOST multiply the score)."""
        boosts = {
            str(EntryStatus.STANDARD): self.settings.standard_boost,
            str(EntryStatus.VALIDATED): self.settings.validated_boost,
        }
        rescored = [
            (entry_id, score * boosts.get(statuses.get(entry_id, ""), 1.0))
            for entry_id, score in ranking
        ]
        return sorted(rescored, key=lambda item: item[1], reverse=True)

    def _fuse(
        self,
        dense: list[tuple[int, float]],
        keyword: list[tuple[int, float]],
        mode: SearchMode,
    ) -> list[tuple[int, float]]:
        if mode == SearchMode.DENSE:
            return dense
        if mode == SearchMode.KEYWORD:
            return keyword
        k = self.settings.rrf_k
        fused: dict[int, float] = {}
        for weight, ranking in (
            (self.settings.dense_weight, dense),
            (self.settings.keyword_weight, keyword),
        ):
            for rank, (entry_id, _score) in enumerate(ranking, start=1):
                fused[entry_id] = fused.get(entry_id, 0.0) + weight / (k + rank)
        return sorted(fused.items(), key=lambda item: item[1], reverse=True)

    def _hydrate(
        self,
        query: str,
        page: list[tuple[int, float]],
        dense_scores: dict[int, float],
        keyword_scores: dict[int, float],
    ) -> list[SearchHit]:
        if not page:
            return []
        ids = [entry_id for entry_id, _ in page]
        # Plain rows through a connection: the ORM's row handling costs more than the query.
        with self.database.engine.connect() as connection:
            rows = {row.id: row for row in connection.execute(PAGE_ROWS, {"ids": ids})}
            accepted: dict[int, AcceptedSolution] = {}
            for solution in connection.execute(ACCEPTED_SOLUTIONS, {"ids": ids}):
                accepted.setdefault(
                    solution.solves_id,
                    AcceptedSolution(solution.external_id, solution.title, solution.handle),
                )
        hits: list[SearchHit] = []
        for entry_id, score in page:
            row = rows.get(entry_id)
            if row is None:  # removed since the index was built
                continue
            hits.append(
                SearchHit(
                    id=row.external_id,
                    kind=row.kind,
                    title=row.title,
                    status=row.status,
                    community=row.community,
                    author=row.author,
                    tags=list(row.tags),
                    created_at=row.created_at,
                    score=round(score, 6),
                    dense_score=_rounded(dense_scores.get(entry_id)),
                    keyword_score=_rounded(keyword_scores.get(entry_id)),
                    snippet=make_snippet(plain_text(row.body), query),
                    accepted_solution=accepted.get(entry_id)
                    if row.kind == EntryKind.PROBLEM
                    else None,
                    solves=row.solves,
                )
            )
        return hits


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


class QueryCache:
    """A bounded least-recently-used map of query text to vector, shared by threads.

    The model runs one query at a time whether cached or not; concurrent queries are
    not batched, because an int8 vector would then depend on the texts batched with
    it (indexer/onnx_embedder.py) and one query takes about a millisecond anyway.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
            return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        if self.size <= 0:
            return
        vector.setflags(write=False)  # shared by every search that hits it
        with self._lock:
            self._vectors[text] = vector
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def __len__(self) -> int:
        return len(self._vectors)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _unembedded_entries(database: Database, model_id: str) -> bool:
    from indexer.pipeline import stale_entry_ids

    with database.session() as session:
        return bool(stale_entry_ids(session, model_id, full=False))
