"""An exact vector store in NumPy: every query compared with every vector.

No training and no FAISS: the reference that faiss_store.py's flat index must
agree with, and a store for tests. Saved as a `.npz` file (saved_index.py).
"""

import time
from pathlib import Path

import numpy as np

from indexer.vectors.keys import entry_ids_of
from indexer.vectors.saved_index import read_meta_for_model, save_index, unreadable
from indexer.vectors.store import PassageMatches, no_matches

EXACT_NUMPY = "exact-numpy"


class NumpyVectorStore:
    def __init__(self, dim: int, model_id: str, generation: int = 0) -> None:
        self.dim = dim
        self.model_id = model_id
        self.generation = generation
        self.built_at = time.time()
        self._keys = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    @property
    def index_type(self) -> str:
        return EXACT_NUMPY

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, index has {self.dim}")
        self._keys = np.concatenate([self._keys, np.asarray(keys, dtype=np.int64)])
        self._vectors = np.concatenate([self._vectors, np.asarray(vectors, dtype=np.float32)])

    def remove(self, entry_ids: list[int]) -> int:
        gone = np.isin(entry_ids_of(self._keys), np.asarray(entry_ids, dtype=np.int64))
        self._keys, self._vectors = self._keys[~gone], self._vectors[~gone]
        return int(gone.sum())

    def search(self, query_vectors: np.ndarray, k: int) -> PassageMatches:
        size = len(self)
        k = min(k, size)
        if k <= 0:
            return no_matches(len(query_vectors), size)
        scores = np.asarray(query_vectors, dtype=np.float32) @ self._vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # equal scores: oldest first
        return PassageMatches(np.take_along_axis(scores, order, axis=1), self._keys[order], size)

    def keys(self) -> np.ndarray:
        return self._keys.copy()

    def save(self, directory: Path) -> Path:
        def write(path: Path) -> None:
            with open(path, "wb") as handle:  # a file name would get ".npz" appended
                np.savez(handle, keys=self._keys, vectors=self._vectors)

        return save_index(self, directory, ".npz", write)

    @classmethod
    def load(cls, directory: Path, expected_model_id: str) -> "NumpyVectorStore | None":
        meta = read_meta_for_model(directory, expected_model_id)
        if meta is None:
            return None
        path = directory / meta.vectors_file
        if meta.index_type != EXACT_NUMPY:
            raise unreadable(path, ValueError(f"a {meta.index_type} index, not {EXACT_NUMPY}"))
        try:
            with np.load(path) as saved:
                keys, vectors = saved["keys"], saved["vectors"]
        except (OSError, ValueError, KeyError) as error:
            raise unreadable(path, error) from error
        store = cls(meta.dim, meta.model_id, meta.generation)
        store._keys, store._vectors = keys, vectors
        store.built_at = meta.built_at
        return store
