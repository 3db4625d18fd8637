"""Text to vectors. One embedder = one model through one runtime path."""

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.model_files import resolve_model_path


class Embedder(Protocol):
    model_id: str  # model name and runtime path; vectors of different ids never mix
    dim: int
    model_path: Path

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim), each row L2-normalised."""
        ...


class SentenceTransformerEmbedder:
    """The model through sentence-transformers and torch on the CPU."""

    def __init__(self, model_name: str, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.model_path = resolve_model_path(model_name)
        self.model = SentenceTransformer(str(self.model_path), device="cpu")
        self.model_id = f"{model_name}@torch"
        self.dim = int(self.model.get_embedding_dimension() or 0)
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def load_embedder(model_name: str, batch_size: int = 32) -> Embedder:
    """One loaded model per process and configuration: loading takes seconds."""
    return SentenceTransformerEmbedder(model_name, batch_size)
