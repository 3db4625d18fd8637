"""Passage keys: the int64 id a passage's vector has in a vector store.

Each key is `entry_id << 10 | passage_no`, so a hit names its entry without a
lookup table, and an entry's passages form one range of keys.
"""

import numpy as np

from indexer.passages import MAX_PASSAGES_PER_ENTRY

PASSAGE_BITS = MAX_PASSAGES_PER_ENTRY.bit_length() - 1


def passage_key(entry_id: int, passage_no: int) -> int:
    return (entry_id << PASSAGE_BITS) | passage_no


def passage_keys(entry_id: int, passages: int) -> np.ndarray:
    """The keys of an entry's first `passages` passages."""
    return np.array([passage_key(entry_id, n) for n in range(passages)], dtype=np.int64)


def entry_ids_of(keys: np.ndarray) -> np.ndarray:
    """The entry of each key (-1, FAISS's empty slot, stays -1)."""
    return keys >> PASSAGE_BITS


def every_key_of(entry_ids: list[int]) -> np.ndarray:
    """Every key these entries' passages could have, used or not."""
    return np.array(
        [passage_key(e, n) for e in entry_ids for n in range(1 << PASSAGE_BITS)],
        dtype=np.int64,
    )
