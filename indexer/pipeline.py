"""Embedding entries into stored vectors, and building the index from them.

The database keeps every passage vector, so only new or changed entries are
ever embedded again, and the FAISS index can always be rebuilt without the model.
`bump_generation` lives in kb/index_state.py: kb's own writes (removals) bump it too.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from indexer.embedder import Embedder
from indexer.passages import PassageSplitter
from indexer.vectors.faiss_params import IndexParams
from indexer.vectors.faiss_store import FaissVectorStore
from indexer.vectors.keys import passage_key, passage_keys
from indexer.vectors.saved_index import read_meta
from indexer.vectors.store import entry_ids_in
from kb.database import Database
from kb.entry_counts import EntryCounts, count_entries
from kb.index_state import bump_generation
from kb.models import Entry, IndexState, Passage
from kb.settings import Settings

ENTRIES_PER_BATCH = 1024  # entries embedded and committed together
ENTRIES_PER_ENCODE = 16  # entries per call to the model: how often progress is reported
VECTORS_PER_READ = 20_000


@dataclass
class EmbeddedEntry:
    entry_id: int
    keys: np.ndarray
    vectors: np.ndarray


@dataclass
class ReindexPlan:
    """What a reindex has to do; found without the model (for the configured model's id)."""

    stale: list[int]  # entries to embed
    counts: EntryCounts  # every entry, by kind
    needs_build: bool  # the index files are behind the database (or of another model)
    vectors_in_index: int  # in the saved index now

    @property
    def up_to_date(self) -> bool:
        return not self.stale and not self.needs_build


@dataclass
class ReindexSummary:
    embedded: int
    skipped: int
    removed: int
    passages: int
    vectors_in_index: int
    seconds: float
    rebuilt_index: bool
    index_type: str = ""
    build_seconds: float = 0.0  # building (and training) the FAISS index, part of seconds
    counts: EntryCounts = field(default_factory=lambda: EntryCounts({}))

    @property
    def entries_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


def embed_and_store(
    session: Session,
    entries: list[Entry],
    embedder: Embedder,
    splitter: PassageSplitter,
    on_progress: Callable[[int], None] | None = None,
) -> list[EmbeddedEntry]:
    """Embed the entries' passages and replace their stored vectors (caller commits).

    The model gets ENTRIES_PER_ENCODE entries' passages at a time, and on_progress hears
    how many entries each call embedded."""
    if not entries:
        return []
    split = [splitter.split(entry.title, entry.body) for entry in entries]
    parts: list[np.ndarray] = []
    for start in range(0, len(entries), ENTRIES_PER_ENCODE):
        group = split[start : start + ENTRIES_PER_ENCODE]
        parts.append(embedder.encode([passage.text for passages in group for passage in passages]))
        if on_progress:
            on_progress(len(group))
    vectors = np.concatenate(parts)
    entry_ids = [entry.id for entry in entries]
    session.execute(delete(Passage).where(Passage.entry_id.in_(entry_ids)))
    rows: list[dict[str, object]] = []
    results: list[EmbeddedEntry] = []
    position = 0
    for entry, passages in zip(entries, split, strict=True):
        entry_vectors = vectors[position : position + len(passages)]
        position += len(passages)
        for number, (passage, vector) in enumerate(zip(passages, entry_vectors, strict=True)):
            rows.append(
                {
                    "entry_id": entry.id,
                    "passage_no": number,
                    "start_char": passage.start_char,
                    "end_char": passage.end_char,
                    "vector": vector.tobytes(),
                }
            )
        keys = passage_keys(entry.id, len(passages))
        results.append(EmbeddedEntry(entry.id, keys, entry_vectors))
        entry.embedded_hash = entry.content_hash
        entry.embedding_model = embedder.model_id
    session.execute(insert(Passage), rows)
    bump_generation(session, embedder.model_id, entry_ids)
    return results


def stored_vectors_of(
    session: Session, model_id: str, dim: int, entry_ids: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The index keys and stored vectors of these entries' passages (from this model)."""
    rows = [
        row
        for batch in _batches(entry_ids, ENTRIES_PER_BATCH)
        for row in session.execute(_stored_vectors(model_id).where(Passage.entry_id.in_(batch)))
    ]
    return _keys_and_vectors(rows, dim)


def stale_entry_ids(session: Session, model_id: str, full: bool) -> list[int]:
    statement = select(Entry.id).order_by(Entry.id)
    if not full:
        statement = statement.where(
            or_(
                Entry.embedded_hash.is_(None),
                Entry.embedded_hash != Entry.content_hash,
                Entry.embedding_model.is_(None),
                Entry.embedding_model != model_id,
            )
        )
    return list(session.scalars(statement))


def build_index(
    database: Database,
    dim: int,
    model_id: str,
    params: IndexParams | None = None,
    trained: FaissVectorStore | None = None,
) -> FaissVectorStore:
    """A fresh in-memory index from every vector stored in the database.

    The type follows the number of vectors (params). An IVF index is trained on a
    sample read first, unless `trained` is an IVF index of a suitable size whose
    cells can be reused (catching up in a server, rather than `kb reindex`).
    """
    params = params or IndexParams()
    with database.session() as session:
        generation = session.scalar(select(IndexState.generation).where(IndexState.id == 1)) or 0
        count = session.scalar(_stored_vectors(model_id, count=True)) or 0
        index = FaissVectorStore.for_size(count, dim, model_id, params, generation)
        if not index.is_trained:
            if (
                trained is not None
                and trained.index_type == index.index_type
                and trained.is_trained
                and trained.nlist <= params.nlist_for(count) * 2
            ):
                index = trained.empty_copy(generation)
            else:
                index.train(_training_sample(session, model_id, dim, count, index))
        for keys, vectors in _read_vectors(session, model_id, dim):
            index.add(keys, vectors)
    return index


def _stored_vectors(model_id: str, count: bool = False) -> Select[Any]:
    columns = (func.count(),) if count else (Passage.entry_id, Passage.passage_no, Passage.vector)
    return (
        select(*columns)
        .select_from(Passage)
        .join(Entry, Entry.id == Passage.entry_id)
        .where(Entry.embedding_model == model_id)
    )


def _read_vectors(
    session: Session, model_id: str, dim: int, every: int = 1
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    statement = _stored_vectors(model_id).execution_options(yield_per=VECTORS_PER_READ)
    for partition in session.execute(statement).partitions():
        yield _keys_and_vectors(partition[::every], dim)


def _keys_and_vectors(rows: Sequence[Any], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Index keys and vectors of (entry_id, passage_no, vector bytes) rows."""
    keys = np.fromiter((passage_key(row[0], row[1]) for row in rows), dtype=np.int64)
    vectors = np.frombuffer(b"".join(row[2] for row in rows), dtype=np.float32)
    return keys, vectors.reshape(len(rows), dim)


def _training_sample(
    session: Session, model_id: str, dim: int, count: int, index: FaissVectorStore
) -> np.ndarray:
    """An even sample of the stored vectors, 64 per IVF cell."""
    every = max(1, count // max(index.training_sample_size(), 1))
    parts = [vectors for _keys, vectors in _read_vectors(session, model_id, dim, every)]
    return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)


def plan_reindex(
    database: Database,
    model_id: str,
    index_dir: Path,
    full: bool = False,
    params: IndexParams | None = None,
) -> ReindexPlan:
    """What `reindex` would do, found from the database and the index's meta file alone:
    `kb reindex` loads the model only when there is something to embed."""
    with database.session() as session:
        stale = stale_entry_ids(session, model_id, full)
        counts = count_entries(session)
    previous = read_meta(index_dir)
    generation = database.index_generation()
    needs_build = (
        full
        or bool(stale)
        or previous is None
        or previous.generation != generation
        or previous.model_id != model_id
        # The size crossed KB_IVF_THRESHOLD (or it changed): the other type is due.
        or previous.index_type != (params or IndexParams()).index_type_for(previous.count)
    )
    return ReindexPlan(stale, counts, needs_build, previous.count if previous else 0)


def reindex(
    database: Database,
    embedder: Embedder,
    splitter: PassageSplitter,
    index_dir: Path,
    full: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    params: IndexParams | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> ReindexSummary:
    """Embed what is new or changed (every entry with full), then rebuild the index if it
    is behind. on_total hears how many entries are to be embedded, on_progress how many
    each step embedded, on_stage what is being done next (for a terminal)."""
    started = time.perf_counter()
    plan = plan_reindex(database, embedder.model_id, index_dir, full, params)
    stale = plan.stale
    if on_total:
        on_total(len(stale))
    passages = 0
    for batch in _batches(stale, ENTRIES_PER_BATCH):
        with database.session() as session:
            entries = list(session.scalars(select(Entry).where(Entry.id.in_(batch))))
            embedded = embed_and_store(session, entries, embedder, splitter, on_progress)
            session.commit()
        passages += sum(len(item.keys) for item in embedded)

    previous = read_meta(index_dir)
    needs_build = plan.needs_build
    removed = 0
    vectors_in_index = previous.count if previous else 0
    index_type = previous.index_type if previous else ""
    build_seconds = 0.0
    if needs_build:
        if on_stage:
            on_stage("building the search index from the stored vectors")
        build_started = time.perf_counter()
        index = build_index(database, embedder.dim, embedder.model_id, params)
        build_seconds = time.perf_counter() - build_started
        index_type = index.index_type
        if previous is not None and previous.model_id == embedder.model_id:
            old = FaissVectorStore.load(index_dir, embedder.model_id)
            if old is not None:
                removed = len(entry_ids_in(old) - entry_ids_in(index))
        index.save(index_dir)
        vectors_in_index = len(index)
    return ReindexSummary(
        embedded=len(stale),
        skipped=plan.counts.total - len(stale),
        removed=removed,
        passages=passages,
        vectors_in_index=vectors_in_index,
        seconds=time.perf_counter() - started,
        rebuilt_index=needs_build,
        index_type=index_type,
        build_seconds=build_seconds,
        counts=plan.counts,
    )


def _batches(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def index_params(settings: Settings) -> IndexParams:
    """The index-building settings (KB_IVF_*)."""
    return IndexParams(
        settings.ivf_threshold,
        settings.ivf_nlist,
        settings.ivf_nprobe,
        f"ivf-{settings.ivf_encoding}",
    )


def build_splitter(settings: Settings, embedder: Embedder) -> PassageSplitter:
    """The passage splitter the settings ask for, with the embedder's tokenizer."""
    return PassageSplitter(
        embedder.model_path / "tokenizer.json",
        settings.passage_tokens,
        settings.passage_overlap_tokens,
    )
