"""Which FAISS index a store is, by its size, and how much of it a query scans.

Below `IndexParams.ivf_threshold` vectors the index is exact:
`IndexIDMap2(IndexFlatIP)`. From there on it is an inverted-file index with
scalar quantisation (`IndexIVFScalarQuantizer`, inner product, our keys stored in
its lists): k-means cells (`nlist`, about 4·sqrt(n)), each vector kept in 8 bits
a dimension (or 16), and a query scans the `nprobe` nearest cells.
"""

import math
from dataclasses import dataclass

import faiss

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
