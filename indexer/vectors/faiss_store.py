"""The FAISS vector store kb serves from: exact flat or IVF by size (faiss_params.py).

An IVF index is trained when it is built (`kb reindex`); deletions scan its lists
(`remove_ids`). Saved as a `.faiss` file (saved_index.py). An IVF index can be
memory-mapped when loaded (`faiss.IO_FLAG_MMAP`, KB_INDEX_MMAP): its lists are
then read from the page cache, not copied, and the first change to it copies them
into memory.
"""

import time
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np

from indexer.vectors.faiss_params import (
    FLAT,
    IVF_ENCODINGS,
    IVF_SQ8,
    MAX_TRAINING_POINTS_PER_CELL,
    IndexParams,
    cells_to_search,
)
from indexer.vectors.keys import every_key_of, passage_key
from indexer.vectors.saved_index import read_meta_for_model, save_index, unreadable
from indexer.vectors.store import PassageMatches, no_matches

# Without this, a batch of queries against a flat index is about 8 times slower.
faiss.cvar.distance_compute_blas_threshold = 20
PARALLEL_QUERIES = 16  # fewer queries at once are searched single-threaded


class FaissVectorStore:
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
    ) -> "FaissVectorStore":
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
    ) -> "FaissVectorStore":
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

    def empty_copy(self, generation: int) -> "FaissVectorStore":
        """The same trained structure with no vectors: rebuilding without training again."""
        if self.index_type == FLAT:
            return FaissVectorStore(self.dim, self.model_id, generation)
        trained = self.faiss_index
        copy = FaissVectorStore.ivf(
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

    def remove(self, entry_ids: list[int]) -> int:
        if not entry_ids or len(self) == 0:
            return 0
        self._make_writable()
        if self.is_ivf and len(entry_ids) > 1:
            # Removing from IVF scans every list: one scan for the whole batch.
            keys = every_key_of(entry_ids)
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

    def search(self, query_vectors: np.ndarray, k: int) -> PassageMatches:
        size = len(self)
        k = min(k, size)
        if k <= 0:
            return no_matches(len(query_vectors), size)
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if len(queries) >= PARALLEL_QUERIES:
            scores, keys = self.faiss_index.search(queries, k)
            return PassageMatches(scores, keys, size)
        # A few queries run on the calling thread alone: an OpenMP team would wait for
        # cores that other requests, the model and other programs hold (on 2 busy
        # cores one query took 226 ms instead of 0.3). The setting is per thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, keys = self.faiss_index.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)
        return PassageMatches(scores, keys, size)

    def keys(self) -> np.ndarray:
        if self.index_type == FLAT:
            return faiss.vector_to_array(self.faiss_index.id_map)  # type: ignore[attr-defined]
        lists = self.faiss_index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(number), lists.list_size(number)).copy()
            for number in range(lists.nlist)
            if lists.list_size(number)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def save(self, directory: Path) -> Path:
        # Memory-mapped lists would be written as a reference to their file, which the
        # save removes: write the vectors themselves.
        self._make_writable()
        return save_index(
            self,
            directory,
            ".faiss",
            lambda path: faiss.write_index(self.faiss_index, str(path)),
            self.nlist,
        )

    @classmethod
    def load(
        cls,
        directory: Path,
        expected_model_id: str,
        nprobe: int | None = None,
        mmap: bool = False,
    ) -> "FaissVectorStore | None":
        """The saved index, or None if there is none yet.

        mmap: map an IVF index's lists from the file instead of reading them (no load
        time, pages shared between processes, but FAISS searches such lists about 8
        times slower: 3.9 instead of 0.5 ms at 100k, BENCHMARKS.md).
        """
        meta = read_meta_for_model(directory, expected_model_id)
        if meta is None:
            return None
        mmap = mmap and meta.index_type != FLAT
        path = directory / meta.vectors_file
        try:
            faiss_index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
        except RuntimeError as error:
            raise unreadable(path, error) from error
        store = cls(meta.dim, meta.model_id, meta.generation, faiss_index)
        store._read_only_lists = mmap
        store.built_at = meta.built_at
        if nprobe is not None:
            store.nprobe = nprobe
        return store
