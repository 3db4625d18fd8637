"""Text to vectors. One embedder = one model through one runtime path."""

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.model_files import embedding_model_id, resolve_model_path
from indexer.onnx_embedder import OnnxEmbedder
from kb.settings import EmbeddingBackend, Settings


class Embedder(Protocol):
    model_id: str  # model name and runtime path; vectors of different ids never mix
    dim: int
    model_path: Path

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array (len(texts), dim), each row L2-normalised."""
        ...


class SentenceTransformerEmbedder:
    """The model through sentence-transformers and torch on the CPU (imported only here)."""

    def __init__(self, model_name: str, batch_size: int = 32) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.model_path = resolve_model_path(model_name)
        self.model = SentenceTransformer(str(self.model_path), device="cpu")
        self.model_id = embedding_model_id(model_name, "torch")
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


def embedder_for(settings: Settings, threads: int = 0) -> Embedder:
    """The embedder the settings ask for (model, backend, batch size, export cache).

    `threads`: cores one ONNX run may use (0: all). Bulk embedding gains from several
    (352 against 292 passages/s on 2 cores); a server embedding one short query per
    request does not, and a second thread only adds CPU (1.8 against 1.2 ms a query,
    BENCHMARKS.md), which concurrent requests need. torch ignores it.
    """
    return load_embedder(
        settings.embedding_model,
        settings.embedding_batch_size,
        settings.embedding_backend,
        settings.resolved_model_cache_dir,
        threads,
    )


@lru_cache(maxsize=4)
def load_embedder(
    model_name: str,
    batch_size: int = 32,
    backend: EmbeddingBackend = "torch",
    cache_dir: Path | None = None,
    threads: int = 0,
) -> Embedder:
    """One loaded model per process and configuration: loading takes seconds.

    The ONNX backends need cache_dir, where the model's export is kept.
    """
    if backend == "torch":
        return SentenceTransformerEmbedder(model_name, batch_size)
    if cache_dir is None:
        raise ValueError(f"the {backend} backend needs a folder for the exported model")
    return OnnxEmbedder(
        model_name, "int8" if backend == "onnx-int8" else "fp32", cache_dir, batch_size, threads
    )
