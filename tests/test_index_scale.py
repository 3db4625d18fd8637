"""The index type follows the size: exact flat below KB_IVF_THRESHOLD, IVF-SQ8 above.

The demo corpus stands in for a large knowledge base by lowering the threshold.
"""

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import indexer.live_index
from indexer.embedder import Embedder
from indexer.pipeline import build_index, build_splitter, index_params, reindex, stored_vectors_of
from indexer.status import collect_status
from indexer.vectors.faiss_params import FLAT, IVF_FP16, IVF_SQ8, cells_to_search
from indexer.vectors.faiss_store import FaissVectorStore
from indexer.vectors.numpy_store import NumpyVectorStore
from indexer.vectors.saved_index import read_meta
from indexer.vectors.store import VectorStore, entry_ids_in
from kb.database import Database
from kb.entries import remove_entries
from kb.models import Entry
from kb.settings import Settings
from search.dense import DenseRetriever, QueryCache
from search.engine import SearchEngine, SearchMode
from tests.conftest import make_settings

QUERIES = [
    "compressor trips on hot days",
    "the lathe stops after warm-up",
    "VPN keeps disconnecting",
    "printer jams on thick paper",
    "how do I onboard a new apprentice",
]


def dense_ids(engine: SearchEngine, query: str) -> list[str]:
    return [hit.id for hit in engine.search(query, limit=5, mode=SearchMode.DENSE).hits]


def test_the_index_type_switches_at_the_threshold(demo_copy: Settings, embedder: Embedder) -> None:
    database = Database.from_settings(demo_copy)
    splitter = build_splitter(demo_copy, embedder)
    vectors = read_meta(demo_copy.index_dir).count  # type: ignore[union-attr]
    assert read_meta(demo_copy.index_dir).index_type == FLAT  # type: ignore[union-attr]

    above = index_params(
        demo_copy.model_copy(update={"ivf_threshold": vectors, "ivf_encoding": "fp16"})
    )
    summary = reindex(database, embedder, splitter, demo_copy.index_dir, params=above)
    # Nothing to embed, but the size now asks for the other type: rebuilt from stored vectors.
    assert (summary.embedded, summary.rebuilt_index, summary.index_type) == (0, True, IVF_FP16)
    meta = read_meta(demo_copy.index_dir)
    assert meta is not None and (meta.index_type, meta.count) == (IVF_FP16, vectors)
    assert meta.nlist >= 1

    status = collect_status(demo_copy, database)
    assert status["index_type"] == IVF_FP16
    assert status["index_bytes"] > 0 and status["index_path"].endswith(meta.vectors_file)

    below = index_params(demo_copy.model_copy(update={"ivf_threshold": vectors + 1}))
    back = reindex(database, embedder, splitter, demo_copy.index_dir, params=below)
    assert (back.rebuilt_index, back.index_type) == (True, FLAT)
    database.dispose()


def test_ivf_search_deletion_and_round_trip(
    demo_copy: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat_engine = SearchEngine.open(demo_copy, Database.from_settings(demo_copy), embedder)
    assert flat_engine.live_index.store.index_type == FLAT
    expected = {query: dense_ids(flat_engine, query) for query in QUERIES}

    ivf_settings = make_settings(demo_copy.home, ivf_threshold=50, ivf_nprobe=64, index_mmap=True)
    database = Database.from_settings(ivf_settings)
    ivf = build_index(database, embedder.dim, embedder.model_id, index_params(ivf_settings))
    assert ivf.index_type == IVF_SQ8 and len(ivf) == len(flat_engine.live_index.store)
    ivf.save(ivf_settings.index_dir)

    # Loaded memory-mapped; searching it finds what exact search finds.
    engine = SearchEngine.open(ivf_settings, database, embedder)
    assert (
        engine.live_index.store.index_type == IVF_SQ8
        and engine.live_index.store.nprobe == engine.live_index.store.nlist
    )
    for query in QUERIES:
        assert dense_ids(engine, query)[:3] == expected[query][:3], query

    # The same scores and keys after another save and load.
    vector = embedder.encode([QUERIES[0]])
    before = engine.live_index.store.search(vector, 10)
    engine.live_index.store.save(ivf_settings.index_dir)
    loaded = FaissVectorStore.load(ivf_settings.index_dir, embedder.model_id)
    assert loaded is not None and loaded.index_type == IVF_SQ8
    after = loaded.search(vector, 10)
    np.testing.assert_array_equal(before.keys, after.keys)
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-6)
    assert entry_ids_in(loaded) == entry_ids_in(flat_engine.live_index.store)

    # Deleting an entry takes it out of the (memory-mapped, then copied) IVF lists...
    top = expected[QUERIES[0]][0]
    with database.session() as session:
        top_id = session.query(Entry.id).filter(Entry.external_id == top).scalar()
    assert engine.forget_entries([top_id]) is None
    assert len(engine.live_index.store) < len(flat_engine.live_index.store)
    assert top not in [h.id for h in engine.search(QUERIES[0], limit=5, mode=SearchMode.DENSE).hits]
    # ... and so does deleting one in the database, caught up by reusing the trained cells.
    second = expected[QUERIES[2]][0]
    assert remove_entries(database, [second]) == [second]
    monkeypatch.setattr(indexer.live_index, "CATCH_UP_SECONDS", 0.0)
    assert second not in dense_ids(engine, QUERIES[2])
    assert engine.live_index.store.index_type == IVF_SQ8

    # An edited entry is searchable at once in the IVF index.
    with database.session() as session:
        source = session.query(Entry).filter(Entry.external_id == expected[QUERIES[1]][0]).one()
        source.title = source.title + " (revised)"
        session.commit()
        entry_id = source.id
    engine.index_entries([entry_id])
    assert dense_ids(engine, QUERIES[1])[0] == expected[QUERIES[1]][0]
    database.dispose()
    flat_engine.database.dispose()


def demo_vectors(settings: Settings, embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """The demo's stored passage keys and vectors."""
    database = Database.from_settings(settings)
    with database.session() as session:
        entry_ids = list(session.scalars(select(Entry.id)))
        keys, vectors = stored_vectors_of(session, embedder.model_id, embedder.dim, entry_ids)
    database.dispose()
    return keys, vectors


def same_matches(first: VectorStore, second: VectorStore, queries: np.ndarray, k: int) -> None:
    one, other = first.search(queries, k), second.search(queries, k)
    assert one.keys.shape == (len(queries), min(k, len(first))) and one.store_size == len(first)
    np.testing.assert_array_equal(one.keys, other.keys)
    np.testing.assert_allclose(one.scores, other.scores, atol=1e-5)
    assert one.store_size == other.store_size


def test_the_exact_numpy_store_finds_what_faiss_flat_finds(
    demo_home: Path, embedder: Embedder, tmp_path: Path
) -> None:
    keys, vectors = demo_vectors(make_settings(demo_home), embedder)
    flat = FaissVectorStore(embedder.dim, embedder.model_id)
    exact = NumpyVectorStore(embedder.dim, embedder.model_id)
    for store in (flat, exact):
        store.add(keys, vectors)
    assert flat.index_type == FLAT and len(flat) == len(exact) == len(keys)
    one_query = embedder.encode(QUERIES[:1])
    many = embedder.encode(QUERIES * 4)  # 20: FAISS searches 16 or more on every core
    for queries in (one_query, many):
        for k in (1, 10, len(keys) + 5):
            same_matches(flat, exact, queries, k)

    removed = sorted(entry_ids_in(flat))[::3]
    assert flat.remove(removed) == exact.remove(removed) > 0
    assert entry_ids_in(flat) == entry_ids_in(exact) == entry_ids_in(flat) - set(removed)
    same_matches(flat, exact, many, 10)

    exact.generation = 7
    exact.save(tmp_path)
    loaded = NumpyVectorStore.load(tmp_path, embedder.model_id)
    assert loaded is not None and (loaded.generation, len(loaded)) == (7, len(exact))
    same_matches(loaded, flat, many, 10)
    assert read_meta(tmp_path).index_type == loaded.index_type  # type: ignore[union-attr]
    assert NumpyVectorStore.load(tmp_path / "nothing-saved-here", embedder.model_id) is None


def test_dense_retrieval_ranks_alike_over_either_store(
    demo_engine: SearchEngine, embedder: Embedder
) -> None:
    keys, vectors = demo_vectors(demo_engine.settings, embedder)
    exact = NumpyVectorStore(embedder.dim, embedder.model_id)
    exact.add(keys, vectors)
    retriever = DenseRetriever(exact, embedder, QueryCache(0), demo_engine.settings.min_similarity)
    for query in QUERIES:
        found, every = retriever.candidates(query, 10)
        expected, expected_every = demo_engine.dense_candidates(query, 10)
        assert [e for e, _ in found] == [e for e, _ in expected] and every == expected_every
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], atol=1e-5)


def test_repeated_queries_hit_the_cache(demo_engine: SearchEngine) -> None:
    cache = demo_engine.query_cache
    first = demo_engine.search("air compressor overheating in summer", limit=5)
    hits_before = cache.hits
    second = demo_engine.search("air compressor overheating in summer", limit=5)
    assert cache.hits == hits_before + 1
    assert [(h.id, h.score) for h in first.hits] == [(h.id, h.score) for h in second.hits]
    assert first.hits


def test_the_query_cache_is_bounded() -> None:
    cache = QueryCache(2)
    for text in ("a", "b", "a", "c"):
        if cache.get(text) is None:
            cache.put(text, np.zeros((1, 4), dtype=np.float32))
    assert len(cache) == 2
    assert cache.get("b") is None and cache.get("a") is not None  # "b" was least recent
    off = QueryCache(0)
    off.put("a", np.zeros((1, 4), dtype=np.float32))
    assert off.get("a") is None


@pytest.mark.parametrize(
    ("nlist", "nprobe", "scanned"),
    [(4000, 0, 256), (1265, 0, 126), (512, 0, 64), (40, 0, 40), (1265, 300, 300), (40, 300, 40)],
)
def test_cells_searched_follow_the_index_size_unless_set(
    nlist: int, nprobe: int, scanned: int
) -> None:
    assert cells_to_search(nlist, nprobe) == scanned
