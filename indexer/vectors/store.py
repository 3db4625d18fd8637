"""What every vector store does (in the spirit of txtai's `ann/` backends).

A store keeps passage vectors under kb's own keys (indexer/vectors/keys.py) and
finds the nearest by inner product. It also carries its build metadata: the model
whose vectors it holds and the database's index generation it is current to.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

import numpy as np

from indexer.vectors.keys import entry_ids_of


@dataclass(frozen=True)
class PassageMatches:
    """The passages nearest to each query, best first."""

    scores: np.ndarray  # float32 (queries, k'): inner product, cosine for normalised vectors
    keys: np.ndarray  # int64 (queries, k'): passage keys; -1 where fewer than k' were found
    store_size: int  # vectors in the store when it was searched; k' = min(k, store_size)

    def entry_ids(self, query: int = 0) -> np.ndarray:
        """The entry of each match of one query (-1 for an empty slot)."""
        return entry_ids_of(self.keys[query])


def no_matches(queries: int, store_size: int) -> PassageMatches:
    empty = np.zeros((queries, 0))
    return PassageMatches(empty.astype(np.float32), empty.astype(np.int64), store_size)


class VectorSearch(Protocol):
    def search(self, query_vectors: np.ndarray, k: int) -> PassageMatches:
        """The k passages nearest to each row of query_vectors (queries, dim)."""
        ...


class VectorStore(VectorSearch, Protocol):
    model_id: str  # vectors from different models (or runtimes) are never mixed
    dim: int
    generation: int  # the database's index generation these vectors are current to
    built_at: float

    @property
    def index_type(self) -> str: ...

    def __len__(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (n, dim) under their passage keys (n,)."""
        ...

    def remove(self, entry_ids: list[int]) -> int:
        """Remove every passage of these entries; returns how many vectors went."""
        ...

    def keys(self) -> np.ndarray:
        """Every passage key in the store."""
        ...

    def save(self, directory: Path) -> Path:
        """Write the store into directory atomically; returns the vectors file."""
        ...

    @classmethod
    def load(cls, directory: Path, expected_model_id: str) -> Self | None:
        """The store saved in directory, or None if there is none yet."""
        ...


def entry_ids_in(store: VectorStore) -> set[int]:
    return set(entry_ids_of(store.keys()).tolist())
