"""The model through ONNX Runtime: no torch in the process once the export exists.

Same steps as sentence-transformers for this model: the tokenizer from the
model folder (truncated to 256 tokens), the transformer, mean pooling over the
real tokens, L2 normalisation.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from onnxruntime.capi.onnxruntime_pybind11_state import (
    Fail,
    InvalidGraph,
    InvalidProtobuf,
    NoSuchFile,
)
from tokenizers import Encoding, Tokenizer

from indexer.model_files import embedding_model_id, resolve_model_path
from indexer.onnx_export import (
    ONNX_OUTPUT,
    Precision,
    cache_folder,
    discard,
    ensure_exported,
)

MAX_TOKENS = 256  # the model's window, as in its sentence_bert_config.json
UNREADABLE_MODEL = (Fail, InvalidGraph, InvalidProtobuf, NoSuchFile)


class OnnxEmbedder:
    def __init__(
        self,
        model_name: str,
        precision: Precision,
        cache_dir: Path,
        batch_size: int = 32,
        threads: int = 0,
    ) -> None:
        self.model_path = resolve_model_path(model_name)
        self.model_id = embedding_model_id(model_name, f"onnx-{precision}")
        # Dynamic int8 scales each MatMul's input by the range of the whole batch, so a
        # text's vector would depend on the texts batched with it (cosine 0.99 to itself
        # alone). One text per run makes each vector a function of its text only, as a
        # query's is, and re-embedding reproducible; it costs about a quarter of the
        # bulk throughput (BENCHMARKS.md).
        self.batch_size = 1 if precision == "int8" else batch_size
        self.tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text below
        folder = cache_folder(cache_dir, model_name, self.model_path)
        self.model_file = ensure_exported(folder, self.model_path, precision)
        try:
            self.session = _open_session(self.model_file, threads)
        except UNREADABLE_MODEL:
            discard(folder, self.model_file)
            self.model_file = ensure_exported(folder, self.model_path, precision)
            self.session = _open_session(self.model_file, threads)
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self.tokenizer.encode_batch(list(texts))
        # Batches of similar lengths waste little work on padding.
        by_length = np.argsort([len(encoding.ids) for encoding in encodings], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            positions = by_length[start : start + self.batch_size]
            vectors[positions] = self._encode_batch([encodings[i] for i in positions])
        return vectors

    def _encode_batch(self, encodings: list[Encoding]) -> np.ndarray:
        longest = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.zeros((len(encodings), longest), dtype=np.int64)
        attention_mask = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        (token_vectors,) = self.session.run(
            [ONNX_OUTPUT],
            {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        mask = attention_mask[:, :, np.newaxis].astype(np.float32)
        mean = (token_vectors * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(mean, axis=1, keepdims=True)
        return (mean / np.maximum(norms, 1e-12)).astype(np.float32)


def _open_session(model_file: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads  # 0: one per core
    # By default the worker threads keep spinning after every run, waiting for the
    # next; on a small server that takes the cores the web app, FAISS and SQLite need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        str(model_file), options, providers=["CPUExecutionProvider"]
    )
