"""The FAISS index: derived from the vectors stored in the database.

Inner product on L2-normalised vectors (= cosine), with our own int64 ids.
Each passage's id is `entry_id << 10 | passage_no`, so a hit names its entry
without a lookup table.

On disk an index is two files in the index folder: `vectors-<generation>-<n>.faiss`
and `index-meta.json`, which names that file together with the model and the
database generation it was built from. The meta file is replaced last, with an
atomic rename, so a crash at any moment leaves the previous index in use.
"""

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.passages import MAX_PASSAGES_PER_ENTRY

PASSAGE_BITS = MAX_PASSAGES_PER_ENTRY.bit_length() - 1
META_FILE = "index-meta.json"

# Without this, a batch of queries against a flat index is about 8 times slower.
faiss.cvar.distance_compute_blas_threshold = 20


def passage_key(entry_id: int, passage_no: int) -> int:
    return (entry_id << PASSAGE_BITS) | passage_no


def entry_ids_of(keys: np.ndarray) -> np.ndarray:
    return keys >> PASSAGE_BITS


class IndexModelMismatch(RuntimeError):
    pass


class IndexUnreadable(RuntimeError):
    pass


@dataclass
class IndexMeta:
    model_id: str
    dim: int
    generation: int
    vectors_file: str
    count: int
    index_type: str
    built_at: float


class VectorIndex:
    def __init__(self, dim: int, model_id: str, generation: int = 0) -> None:
        self.dim = dim
        self.model_id = model_id
        self.generation = generation
        self.built_at = time.time()
        self.faiss_index: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def index_type(self) -> str:
        return "flat"

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, index has {self.dim}")
        self.faiss_index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(keys, dtype=np.int64)
        )

    def remove_entries(self, entry_ids: list[int]) -> int:
        removed = 0
        for entry_id in entry_ids:
            selector = faiss.IDSelectorRange(passage_key(entry_id, 0), passage_key(entry_id + 1, 0))
            removed += int(self.faiss_index.remove_ids(selector))
        return removed

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage keys), each (n_queries, k'); missing slots have key -1."""
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(query_vectors), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        scores, keys = self.faiss_index.search(
            np.ascontiguousarray(query_vectors, dtype=np.float32), k
        )
        return scores, keys

    def entry_ids(self) -> set[int]:
        keys = faiss.vector_to_array(self.faiss_index.id_map)  # type: ignore[attr-defined]
        return set(entry_ids_of(keys).tolist())

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        vectors_file = f"vectors-{self.generation}-{uuid.uuid4().hex[:8]}.faiss"
        temporary = directory / f".{vectors_file}.tmp"
        faiss.write_index(self.faiss_index, str(temporary))
        _fsync_file(temporary)
        os.replace(temporary, directory / vectors_file)
        meta = IndexMeta(
            model_id=self.model_id,
            dim=self.dim,
            generation=self.generation,
            vectors_file=vectors_file,
            count=len(self),
            index_type=self.index_type,
            built_at=self.built_at,
        )
        meta_temporary = directory / f".{META_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        meta_temporary.write_text(json.dumps(asdict(meta), indent=2))
        _fsync_file(meta_temporary)
        os.replace(meta_temporary, directory / META_FILE)
        _fsync_directory(directory)
        _remove_unreferenced(directory, keep=vectors_file)
        return directory / vectors_file

    @classmethod
    def load(cls, directory: Path, expected_model_id: str) -> "VectorIndex | None":
        """The saved index, or None if there is none yet."""
        meta = read_meta(directory)
        if meta is None:
            return None
        if meta.model_id != expected_model_id:
            raise IndexModelMismatch(
                f"the index in {directory} was built with the embedding model and backend "
                f"{meta.model_id!r} ({meta.dim} dimensions), but kb is configured for "
                f"{expected_model_id!r} (KB_EMBEDDING_MODEL, KB_EMBEDDING_BACKEND); vectors "
                "made two ways are never mixed. Run `kb reindex` to re-embed the entries "
                "with the configured ones (`kb reindex --full` re-embeds everything), or "
                "set the settings back to what the index was built with."
            )
        try:
            faiss_index = faiss.read_index(str(directory / meta.vectors_file))
        except RuntimeError as error:
            raise IndexUnreadable(
                f"the index file {directory / meta.vectors_file} cannot be read ({error}); "
                "run `kb reindex` to rebuild it from the database"
            ) from error
        index = cls(meta.dim, meta.model_id, meta.generation)
        index.faiss_index = faiss_index
        index.built_at = meta.built_at
        return index


def read_meta(directory: Path) -> IndexMeta | None:
    path = directory / META_FILE
    if not path.exists():
        return None
    try:
        return IndexMeta(**json.loads(path.read_text()))
    except (ValueError, TypeError) as error:
        raise IndexUnreadable(
            f"{path} is damaged ({error}); run `kb reindex --full` to rebuild the index"
        ) from error


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_unreferenced(directory: Path, keep: str) -> None:
    for path in directory.glob("vectors-*.faiss"):
        if path.name != keep:
            path.unlink(missing_ok=True)
    stale_before = time.time() - 3600  # another process may be writing a newer one
    for path in directory.glob(".*.tmp"):
        if path.stat().st_mtime < stale_before:
            path.unlink(missing_ok=True)
