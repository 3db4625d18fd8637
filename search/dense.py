"""Dense retrieval: entries ranked by their best passage's cosine similarity to the query.

The query's vector comes from the model, or from a cache of recent queries; the
nearest passages from a vector store (indexer/vectors/, or the live index that
holds one).
"""

import threading
from collections import OrderedDict

import numpy as np

from indexer.embedder import Embedder
from indexer.vectors.store import VectorSearch


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

    def clear(self) -> None:
        """Forget every vector (benchmarks: the same text embedded again)."""
        with self._lock:
            self._vectors.clear()


class DenseRetriever:
    def __init__(
        self,
        vectors: VectorSearch,
        embedder: Embedder,
        query_cache: QueryCache,
        min_similarity: float,
    ) -> None:
        self.vectors = vectors
        self.embedder = embedder
        self.query_cache = query_cache
        self.min_similarity = min_similarity

    def query_vector(self, text: str) -> np.ndarray:
        """The query's vector (1, dim): from the cache if the same text was asked lately."""
        vector = self.query_cache.get(text)
        if vector is None:
            vector = self.embedder.encode([text])
            self.query_cache.put(text, vector)
        return vector

    def candidates(self, text: str, wanted: int) -> tuple[list[tuple[int, float]], bool]:
        """Entries by their best passage's cosine similarity (at least min_similarity),
        best first, from the passages nearest to the query (enough for about `wanted`
        entries); and whether that is every entry similar enough."""
        k = wanted * 3 + 10  # an entry may have several passages among the nearest
        matches = self.vectors.search(self.query_vector(text), k)
        scores = matches.scores[0]
        best: dict[int, float] = {}
        floor = self.min_similarity
        for score, entry_id in zip(scores.tolist(), matches.entry_ids().tolist(), strict=True):
            if entry_id >= 0 and entry_id not in best and score >= floor:
                best[entry_id] = float(score)
        every = k >= matches.store_size or (len(scores) > 0 and scores[-1] < floor)
        return list(best.items()), every
