"""The vector store a running server searches, kept current with the database.

Opened from the saved index (built first if there is none, or if entries wait to
be embedded), it then follows the database: entries this process saves are
embedded and added at once (`index_entries`), and what other processes stored
(`kb import`, `kb reindex`, another worker) is picked up by `catch_up`, from the
change log when it can, by rebuilding aside and swapping in when it cannot.
Searches and changes of the store in use take turns under one lock.
"""

import threading
import time
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from indexer.embedder import Embedder
from indexer.pipeline import (
    build_index,
    build_splitter,
    embed_and_store,
    index_params,
    reindex,
    stale_entry_ids,
    stored_vectors_of,
)
from indexer.vectors.faiss_store import FaissVectorStore
from indexer.vectors.saved_index import read_meta
from indexer.vectors.store import PassageMatches
from kb.database import Database
from kb.index_state import changed_since
from kb.models import Entry, IndexState
from kb.settings import Settings

CATCH_UP_SECONDS = 1.0
# More entries changed than this since the live index was built: rebuild it instead.
MAX_CHANGES_APPLIED = 5_000


@dataclass(frozen=True)
class IndexSummary:
    """The index a process searches now, as reports show it (console, /healthz)."""

    vectors: int
    index_type: str
    cells: str  # "exact", or how many IVF cells a query scans of how many
    model_id: str
    generation: int


class LiveIndex:
    def __init__(
        self, settings: Settings, database: Database, embedder: Embedder, store: FaissVectorStore
    ) -> None:
        self.settings = settings
        self.database = database
        self.embedder = embedder
        self.splitter = build_splitter(settings, embedder)
        self._store = store
        self._lock = threading.RLock()  # the store in use: searched, changed or swapped
        self._rebuild_lock = threading.Lock()
        self._checked_generation_at = float("-inf")

    @classmethod
    def open(cls, settings: Settings, database: Database, embedder: Embedder) -> "LiveIndex":
        """Load the saved index, catching up on anything the database has that it lacks.

        Raises IndexModelMismatch if the saved index comes from another model.
        """
        store = _load_saved(settings, embedder)
        if store is None or _unembedded_entries(database, embedder.model_id):
            splitter = build_splitter(settings, embedder)
            reindex(database, embedder, splitter, settings.index_dir, params=index_params(settings))
            store = _load_saved(settings, embedder)
        assert store is not None
        live = cls(settings, database, embedder, store)
        live.catch_up()  # the saved index may be behind the database
        return live

    @property
    def store(self) -> FaissVectorStore:
        """The store searched now (a rebuild replaces it)."""
        return self._store

    def summary(self) -> IndexSummary:
        store = self.store
        cells = f"{store.nprobe} of {store.nlist} cells searched" if store.is_ivf else "exact"
        return IndexSummary(len(store), store.index_type, cells, store.model_id, store.generation)

    def search(self, query_vectors: np.ndarray, k: int) -> PassageMatches:
        with self._lock:
            return self._store.search(query_vectors, k)

    def index_entries(self, entry_ids: list[int]) -> None:
        """Embed new or edited entries and make them searchable at once."""
        with self.database.session() as session:
            entries = list(session.scalars(select(Entry).where(Entry.id.in_(entry_ids))))
            embedded = embed_and_store(session, entries, self.embedder, self.splitter)
            session.commit()
            generation = session.scalar(select(IndexState.generation)) or 0
        with self._lock:
            self._store.remove(entry_ids)
            for item in embedded:
                self._store.add(item.keys, item.vectors)
            # Only if nothing else changed meanwhile: other changes are for catch_up.
            if generation == self._store.generation + 1:
                self._store.generation = generation

    def forget_entries(self, entry_ids: list[int]) -> None:
        with self._lock:
            self._store.remove(entry_ids)

    def catch_up(self) -> None:
        """Pick up vectors another process stored (`kb import`, `kb reindex`, another worker).

        The database's index generation changes whenever stored vectors do; the
        check is one tiny query, made at most once per CATCH_UP_SECONDS.
        """
        now = time.monotonic()
        if now - self._checked_generation_at < CATCH_UP_SECONDS:
            return
        self._checked_generation_at = now
        if self.database.index_generation() == self._store.generation:
            return
        with self._rebuild_lock:
            generation = self.database.index_generation()
            if generation == self._store.generation:
                return
            if self._apply_changes(generation):
                return
            # Built aside while searches go on with the current store, then swapped in.
            # Entries indexed meanwhile have a newer generation: the next check picks them up.
            store = self._rebuilt(generation)
            with self._lock:
                self._store = store

    def _apply_changes(self, generation: int) -> bool:
        """Bring the live store to `generation` by re-reading only the entries whose
        vectors changed since its own; False when the change log cannot tell which
        (it keeps the last CHANGES_KEPT generations) or when they are too many."""
        with self.database.session() as session:
            changed = changed_since(session, self._store.generation, generation)
            if changed is None or len(changed) > MAX_CHANGES_APPLIED:
                return False
            keys, vectors = stored_vectors_of(
                session, self.embedder.model_id, self.embedder.dim, changed
            )
        with self._lock:
            self._store.remove(changed)
            self._store.add(keys, vectors)
            self._store.generation = generation
        return True

    def _rebuilt(self, generation: int) -> FaissVectorStore:
        """A store of the database at `generation`: the saved one if `kb reindex` or
        `kb import` saved exactly that, else built from the stored vectors."""
        meta = read_meta(self.settings.index_dir)
        store: FaissVectorStore | None = None
        if meta and meta.generation == generation and meta.model_id == self.embedder.model_id:
            store = _load_saved(self.settings, self.embedder)
        if store is None or store.generation != generation:
            store = build_index(
                self.database,
                self.embedder.dim,
                self.embedder.model_id,
                index_params(self.settings),
                trained=self._store,  # IVF: reuse its cells rather than train in a server
            )
        return store


def _load_saved(settings: Settings, embedder: Embedder) -> FaissVectorStore | None:
    return FaissVectorStore.load(
        settings.index_dir, embedder.model_id, settings.ivf_nprobe, settings.index_mmap
    )


def _unembedded_entries(database: Database, model_id: str) -> bool:
    with database.session() as session:
        return bool(stale_entry_ids(session, model_id, full=False))
