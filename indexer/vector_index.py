"""The FAISS index: derived from the vectors stored in the database.

Inner product on L2-normalised vectors (= cosine), with our own int64 ids.
Each passage's id is `entry_id << 10 | passage_no`, so a hit names its entry
without a lookup table.

The index type follows the size. Below `IndexParams.ivf_threshold` vectors it is
exact: `IndexIDMap2(IndexFlatIP)`. From there on it is an inverted-file index
with 8-bit scalar quantisation (`IndexIVFScalarQuantizer`, inner product, our
ids stored in its lists): k-means cells (`nlist`, about 4·sqrt(n)), each vector
kept in 384 bytes instead of 1,536, and a query scans the `nprobe` nearest
cells. It is trained when the index is built (`kb reindex`); deletions scan
the lists (`remove_ids`).

On disk an index is two files in the index folder: `vectors-<generation>-<n>.faiss`
and `index-meta.json`, which names that file together with the model and the
database generation it was built from. The meta file is replaced last, with an
atomic rename, so a crash at any moment leaves the previous index in use. An IVF
index can be memory-mapped when loaded (`faiss.IO_FLAG_MMAP`, KB_INDEX_MMAP): its
lists are then read from the page cache, not copied, and the first change to it
copies them into memory.
"""

import json
import math
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np

from indexer.passages import MAX_PASSAGES_PER_ENTRY

PASSAGE_BITS = MAX_PASSAGES_PER_ENTRY.bit_length() - 1
META_FILE = "index-meta.json"

# Without this, a batch of queries against a flat index is about 8 times slower.
faiss.cvar.distance_compute_blas_threshold = 20

FLAT = "flat"
IVF_SQ8 = "ivf-sq8"
IVF_FP16 = "ivf-fp16"
# How an IVF index keeps each vector: 8-bit (a quarter of float32) or 16-bit floats (half).
IVF_ENCODINGS = {
    IVF_SQ8: faiss.ScalarQuantizer.QT_8bit,
    IVF_FP16: faiss.ScalarQuantizer.QT_fp16,
}
# k-means needs about 39 training points per cell or FAISS warns; it samples at most
# 256 per cell anyway; 64 per cell trains 1M vectors in about a minute.
MIN_POINTS_PER_CELL = 39
MAX_TRAINING_POINTS_PER_CELL = 64
PARALLEL_QUERIES = 16  # fewer queries at once are searched single-threaded


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
    nlist: int = 0


@dataclass(frozen=True)
class IndexParams:
    """How an index is built: exact below ivf_threshold vectors, IVF (ivf_type) from there."""

    ivf_threshold: int = 20_000
    nlist: int = 0  # 0: about 4·sqrt(n) cells
    nprobe: int = 0  # 0: cells_to_search() chooses
    ivf_type: str = IVF_SQ8

    def index_type_for(self, count: int) -> str:
        return self.ivf_type if count >= max(self.ivf_threshold, 1) else FLAT

    def nlist_for(self, count: int) -> int:
        wanted = self.nlist or round(4 * math.sqrt(max(count, 1)))
        return max(1, min(wanted, count // MIN_POINTS_PER_CELL))


def cells_to_search(nlist: int, nprobe: int) -> int:
    """IVF cells a query scans: `nprobe`, or for 0 a tenth of the cells, from 64 to 256.
    About the same share of the index at every size: recall@10 0.966 (20k vectors, 64
    of 512 cells), 0.969 (100k, 126 of 1,265), 0.973 (1M, 256 of 4,000) on clustered
    vectors (BENCHMARKS.md)."""
    wanted = nprobe or min(256, max(64, nlist // 10))
    return max(1, min(wanted, nlist))


class VectorIndex:
    def __init__(
        self,
        dim: int,
        model_id: str,
        generation: int = 0,
        faiss_index: faiss.Index | None = None,
    ) -> None:
        self.dim = dim
        self.model_id = model_id
        self.generation = generation
        self.built_at = time.time()
        # faiss.Index or one of its IVF subclasses (whose attributes the stubs lack).
        self.faiss_index: Any = faiss_index or faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._read_only_lists = False  # memory-mapped IVF lists, copied on first change

    @classmethod
    def ivf(
        cls,
        dim: int,
        model_id: str,
        nlist: int,
        nprobe: int,
        generation: int = 0,
        index_type: str = IVF_SQ8,
    ) -> "VectorIndex":
        """An untrained IVF index (IVF_SQ8 or IVF_FP16): train() it, then add()."""
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, IVF_ENCODINGS[index_type], faiss.METRIC_INNER_PRODUCT
        )
        ivf.own_fields = True
        cast(Any, quantizer).this.disown()  # the IVF index frees it
        ivf.nprobe = cells_to_search(nlist, nprobe)
        return cls(dim, model_id, generation, ivf)

    @classmethod
    def for_size(
        cls, count: int, dim: int, model_id: str, params: IndexParams, generation: int = 0
    ) -> "VectorIndex":
        """An empty index of the type params choose for count vectors (IVF: untrained)."""
        index_type = params.index_type_for(count)
        if index_type != FLAT:
            return cls.ivf(
                dim, model_id, params.nlist_for(count), params.nprobe, generation, index_type
            )
        return cls(dim, model_id, generation)

    def __len__(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def index_type(self) -> str:
        if isinstance(self.faiss_index, faiss.IndexIDMap2):
            return FLAT
        qtype = self.faiss_index.sq.qtype
        return next(name for name, code in IVF_ENCODINGS.items() if code == qtype)

    @property
    def is_ivf(self) -> bool:
        return not isinstance(self.faiss_index, faiss.IndexIDMap2)

    @property
    def is_trained(self) -> bool:
        return bool(self.faiss_index.is_trained)

    @property
    def nlist(self) -> int:
        return int(self.faiss_index.nlist) if self.is_ivf else 0

    @property
    def nprobe(self) -> int:
        return int(self.faiss_index.nprobe) if self.is_ivf else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.is_ivf:
            self.faiss_index.nprobe = cells_to_search(self.nlist, value)

    def training_sample_size(self) -> int:
        return self.nlist * MAX_TRAINING_POINTS_PER_CELL

    def train(self, vectors: np.ndarray) -> None:
        """Learn the IVF cells and the quantiser's ranges (a flat index needs none)."""
        if self.is_trained:
            return
        self.faiss_index.train(np.ascontiguousarray(vectors, dtype=np.float32))

    def empty_copy(self, generation: int) -> "VectorIndex":
        """The same trained structure with no vectors: rebuilding without training again."""
        if self.index_type == FLAT:
            return VectorIndex(self.dim, self.model_id, generation)
        trained = self.faiss_index
        copy = VectorIndex.ivf(
            self.dim, self.model_id, self.nlist, self.nprobe, generation, self.index_type
        )
        ivf = copy.faiss_index
        ivf.quantizer.add(trained.quantizer.reconstruct_n(0, self.nlist))
        ivf.sq = trained.sq
        ivf.by_residual = trained.by_residual
        ivf.is_trained = True
        return copy

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        if vectors.shape[1] != self.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, index has {self.dim}")
        self._make_writable()
        self.faiss_index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(keys, dtype=np.int64)
        )

    def remove_entries(self, entry_ids: list[int]) -> int:
        if not entry_ids or len(self) == 0:
            return 0
        self._make_writable()
        if self.is_ivf and len(entry_ids) > 1:
            # Removing from IVF scans every list: one scan for the whole batch.
            keys = np.array(
                [passage_key(e, n) for e in entry_ids for n in range(1 << PASSAGE_BITS)],
                dtype=np.int64,
            )
            return int(
                self.faiss_index.remove_ids(faiss.IDSelectorBatch(len(keys), faiss.swig_ptr(keys)))
            )
        removed = 0
        for entry_id in entry_ids:
            selector = faiss.IDSelectorRange(passage_key(entry_id, 0), passage_key(entry_id + 1, 0))
            removed += int(self.faiss_index.remove_ids(selector))
        return removed

    def _make_writable(self) -> None:
        """Copy memory-mapped (read-only) IVF lists into memory before the first change."""
        if not self._read_only_lists:
            return
        ivf = self.faiss_index
        source = ivf.invlists
        lists = faiss.ArrayInvertedLists(source.nlist, source.code_size)
        for number in range(source.nlist):
            size = source.list_size(number)
            if size:
                lists.add_entries(number, size, source.get_ids(number), source.get_codes(number))
        ivf.replace_invlists(lists, True)
        cast(Any, lists).this.disown()  # the IVF index frees it
        self._read_only_lists = False

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage keys), each (n_queries, k'); missing slots have key -1."""
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(query_vectors), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if len(queries) >= PARALLEL_QUERIES:
            scores, keys = self.faiss_index.search(queries, k)
            return scores, keys
        # A few queries run on the calling thread alone: an OpenMP team would wait for
        # cores that other requests, the model and other programs hold (on 2 busy
        # cores one query took 226 ms instead of 0.3). The setting is per thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, keys = self.faiss_index.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)
        return scores, keys

    def keys(self) -> np.ndarray:
        """Every passage key in the index."""
        if self.index_type == FLAT:
            return faiss.vector_to_array(self.faiss_index.id_map)  # type: ignore[attr-defined]
        lists = self.faiss_index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(number), lists.list_size(number)).copy()
            for number in range(lists.nlist)
            if lists.list_size(number)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def entry_ids(self) -> set[int]:
        return set(entry_ids_of(self.keys()).tolist())

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        # Memory-mapped lists would be written as a reference to their file, which the
        # save removes: write the vectors themselves.
        self._make_writable()
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
            nlist=self.nlist,
        )
        meta_temporary = directory / f".{META_FILE}.{uuid.uuid4().hex[:8]}.tmp"
        meta_temporary.write_text(json.dumps(asdict(meta), indent=2))
        _fsync_file(meta_temporary)
        os.replace(meta_temporary, directory / META_FILE)
        _fsync_directory(directory)
        _remove_unreferenced(directory, keep=vectors_file)
        return directory / vectors_file

    @classmethod
    def load(
        cls,
        directory: Path,
        expected_model_id: str,
        nprobe: int | None = None,
        mmap: bool = False,
    ) -> "VectorIndex | None":
        """The saved index, or None if there is none yet.

        mmap: map an IVF index's lists from the file instead of reading them (no load
        time, pages shared between processes, but FAISS searches such lists about 8
        times slower: 3.9 instead of 0.5 ms at 100k, BENCHMARKS.md).
        """
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
        mmap = mmap and meta.index_type != FLAT
        try:
            faiss_index = faiss.read_index(
                str(directory / meta.vectors_file), faiss.IO_FLAG_MMAP if mmap else 0
            )
        except RuntimeError as error:
            raise IndexUnreadable(
                f"the index file {directory / meta.vectors_file} cannot be read ({error}); "
                "run `kb reindex` to rebuild it from the database"
            ) from error
        index = cls(meta.dim, meta.model_id, meta.generation, faiss_index)
        index._read_only_lists = mmap
        index.built_at = meta.built_at
        if nprobe is not None:
            index.nprobe = nprobe
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
