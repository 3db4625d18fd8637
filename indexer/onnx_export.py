"""Exporting the packaged model to ONNX, once, into a cache folder.

The export needs torch, so it runs at first use (`kb import`, `kb reindex`,
`kb demo` or the first `kb serve`); afterwards the ONNX path only reads the
cached files. Every file is written under a temporary name and renamed into
place when complete, so a crash mid-export never leaves a file that looks done.
"""

import hashlib
import logging
import os
import re
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

Precision = Literal["fp32", "int8"]

# Part of every cache folder's name: change it when the export recipe changes,
# so that files made the old way are never picked up again.
EXPORT_RECIPE = "torchscript-opset17-v1"
ONNX_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
ONNX_OUTPUT = "last_hidden_state"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def cache_folder(cache_dir: Path, model_name: str, model_path: Path) -> Path:
    """The folder for one model's exports, named after the model and its weights file.

    A new version of the model package (another weights file) gets a new folder.
    """
    weights = next(
        (model_path / name for name in WEIGHT_FILES if (model_path / name).exists()), None
    )
    if weights is None:
        raise FileNotFoundError(f"no weights file ({', '.join(WEIGHT_FILES)}) in {model_path}")
    stat = weights.stat()
    identity = f"{EXPORT_RECIPE}|{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:12]
    readable_name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_name).name) or "model"
    return cache_dir / f"{readable_name}-{fingerprint}"


def model_file(folder: Path, precision: Precision) -> Path:
    return folder / f"model-{precision}.onnx"


def ensure_exported(folder: Path, model_path: Path, precision: Precision) -> Path:
    """The ONNX file of this precision, exporting (and quantising) it first if missing."""
    target = model_file(folder, precision)
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _notice(f"kb: exporting the embedding model to ONNX ({precision}) into {folder}, once")
    fp32 = model_file(folder, "fp32")
    if not fp32.exists():
        write_atomically(fp32, lambda temporary: export_fp32(model_path, temporary))
    if precision == "int8":
        write_atomically(target, lambda temporary: quantize_int8(fp32, temporary))
    _notice(f"kb: export done in {time.perf_counter() - started:.0f} s")
    return target


def discard(folder: Path, unreadable: Path) -> None:
    """Empty a cache folder in which a file turned out to be unreadable.

    The int8 file is made from the fp32 one, so neither is trusted after that.
    """
    _notice(f"kb: the cached model file {unreadable} cannot be loaded; exporting again")
    for path in folder.glob("model-*.onnx"):
        path.unlink(missing_ok=True)


def export_fp32(model_path: Path, target: Path) -> None:
    """Trace the transformer (without pooling) into an ONNX graph with dynamic batch and length."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager")
    model.eval()

    class KeywordInputs(torch.nn.Module):
        """The tracer passes inputs by position; the model needs them by name."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            output = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state

    # The example batch must contain padding: the tracer records only the branches
    # it takes, and a batch without padding would let the model skip the mask.
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.enable_padding()
    examples = tokenizer.encode_batch(["a short text", "a somewhat longer text, with padding"])
    input_ids = torch.tensor([e.ids for e in examples], dtype=torch.int64)
    attention_mask = torch.tensor([e.attention_mask for e in examples], dtype=torch.int64)
    token_type_ids = torch.zeros_like(input_ids)
    with _quiet_export(), torch.no_grad():
        torch.onnx.export(
            KeywordInputs(model),
            (input_ids, attention_mask, token_type_ids),
            str(target),
            input_names=ONNX_INPUTS,
            output_names=[ONNX_OUTPUT],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*ONNX_INPUTS, ONNX_OUTPUT]},
            opset_version=17,
            dynamo=False,
        )


def quantize_int8(fp32_file: Path, target: Path) -> None:
    """Dynamic int8 weights, one scale per output channel, on the MatMuls only.

    Per-tensor scales cost too much accuracy (cosine to fp32 about 0.94 instead of 0.99).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_export():
        quantize_dynamic(
            fp32_file,
            target,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
        )


def write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    temporary = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the exporter's and quantiser's advice: it is about their internals, not ours.

    Tests also turn warnings into errors, and the legacy exporter always warns.
    """
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
