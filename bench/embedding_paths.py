"""The three embedding paths side by side, in one run: torch, ONNX fp32, ONNX int8.

For each path: bulk encode throughput on realistic passages (the demo corpus and
the public evaluation texts, split as kb splits them) as a ratio to torch; the
latency of embedding one short query (p50); SemEval-2016 dev MAP through
`kb import` + `kb eval`; and how long `kb serve` takes to answer /healthz, and
whether the serving process imported torch.

The paths take turns in every round, so a busy machine slows them alike and the
ratios stay fair. Usage:
    python bench/embedding_paths.py [--texts N] [--rounds R] [--queries Q]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from common import EVAL_DIR, REPO, kb, machine  # noqa: E402
from semeval import convert_corpus, evaluate  # noqa: E402

from indexer.embedder import Embedder, load_embedder  # noqa: E402
from indexer.onnx_embedder import OnnxEmbedder  # noqa: E402
from indexer.onnx_export import cache_folder, ensure_exported  # noqa: E402
from indexer.passages import PassageSplitter  # noqa: E402
from kb.sources import read_source  # noqa: E402

BACKENDS = ["torch", "onnx-fp32", "onnx-int8"]
MODEL = "all-MiniLM-L6-v2"


def realistic_texts(splitter: PassageSplitter, limit: int) -> list[str]:
    """Demo-corpus passages first, then SemEval and Stack Exchange texts, up to limit."""
    pairs = [(e.record.title, e.record.body) for e in read_source(REPO / "corpus").entries]
    for source in (
        EVAL_DIR / "semeval2016-dev" / "corpus.jsonl",
        EVAL_DIR / "stackexchange-routing" / "matheducators" / "corpus.jsonl",
    ):
        with source.open() as lines:
            for line in lines:
                doc = json.loads(line)
                pairs.append((doc.get("title") or "", doc.get("body") or ""))
    texts = [passage.text for title, body in pairs for passage in splitter.split(title, body)]
    return texts[:limit]


def short_queries(count: int) -> list[str]:
    with (EVAL_DIR / "semeval2016-dev" / "queries.jsonl").open() as lines:
        titles = [json.loads(line)["title"] for line in lines]
    return (titles * (count // len(titles) + 1))[:count]


def time_bulk(embedder: Embedder, texts: list[str]) -> float:
    started = time.perf_counter()
    embedder.encode(texts)
    return time.perf_counter() - started


def time_queries(embedder: Embedder, queries: list[str]) -> list[float]:
    seconds = []
    for query in queries:
        started = time.perf_counter()
        embedder.encode([query])
        seconds.append(time.perf_counter() - started)
    return seconds


def semeval_map(backend: str, scratch: Path, env: dict[str, str]) -> tuple[Path, dict]:
    """Import the SemEval candidates with this backend; MAP of dense and hybrid rankings."""
    home = scratch / f"semeval-{backend}"
    corpus = scratch / "semeval-corpus.jsonl"
    if not corpus.exists():
        convert_corpus(EVAL_DIR / "semeval2016-dev" / "corpus.jsonl", corpus)
    kb(home, "import", str(corpus), env_extra=env)
    pure = {**env, "KB_MIN_SIMILARITY": "0"}
    return home, {
        "dense": evaluate(home, "dense", pure)["MAP"],
        "hybrid": evaluate(home, "hybrid", pure)["MAP"],
        "hybrid, default settings": evaluate(home, "hybrid", env)["MAP"],
    }


def serve_startup(home: Path, env: dict[str, str]) -> float:
    """Seconds from launching `kb serve` to its first answer on /healthz."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--port", str(port)],
        env={**os.environ, "KB_HOME": str(home), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit(f"kb serve exited with {process.returncode}")
    finally:
        process.terminate()
        process.wait(timeout=30)


CREATE_APP_PROBE = """
import json, sys, time
started = time.perf_counter()
from kb.settings import Settings
from web.app import create_app
create_app(Settings())
print(json.dumps({"seconds": time.perf_counter() - started, "torch": "torch" in sys.modules}))
"""


def create_app_probe(home: Path, env: dict[str, str]) -> dict:
    """In a fresh process: seconds to import the app and create it; was torch imported?"""
    result = subprocess.run(
        [sys.executable, "-c", CREATE_APP_PROBE],
        env={**os.environ, "KB_HOME": str(home), **env},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=768, help="Passages for the bulk encode.")
    parser.add_argument("--rounds", type=int, default=3, help="Bulk rounds per path (median).")
    parser.add_argument("--queries", type=int, default=200, help="One-query encodes per path.")
    args = parser.parse_args()
    print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        cache_dir = scratch / "model-cache"
        embedders: dict[str, Embedder] = {}
        load_seconds: dict[str, float] = {}
        started = time.perf_counter()
        embedders["torch"] = load_embedder(MODEL, 32, "torch")
        load_seconds["torch"] = time.perf_counter() - started
        first = embedders["torch"]
        started = time.perf_counter()
        folder = cache_folder(cache_dir, MODEL, first.model_path)
        ensure_exported(folder, first.model_path, "int8")  # makes the fp32 file on the way
        export_seconds = time.perf_counter() - started
        for backend in ("onnx-fp32", "onnx-int8"):
            started = time.perf_counter()
            embedders[backend] = load_embedder(MODEL, 32, backend, cache_dir)
            load_seconds[backend] = time.perf_counter() - started
        # For comparison only: kb runs int8 one text at a time (see OnnxEmbedder).
        int8_batched = OnnxEmbedder(MODEL, "int8", cache_dir)
        int8_batched.batch_size = 32
        splitter = PassageSplitter(first.model_path / "tokenizer.json", 256, 32)
        texts = realistic_texts(splitter, args.texts)
        queries = short_queries(args.queries)
        for embedder in embedders.values():
            embedder.encode(texts[:64])

        bulk: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
        latency: dict[str, list[float]] = {backend: [] for backend in BACKENDS}
        batched_seconds: list[float] = []
        for _ in range(args.rounds):
            for backend in BACKENDS:
                bulk[backend].append(time_bulk(embedders[backend], texts))
                latency[backend].extend(time_queries(embedders[backend], queries))
            batched_seconds.append(time_bulk(int8_batched, texts))
        load_during_timing = os.getloadavg()

        quality: dict[str, dict] = {}
        startup: dict[str, float] = {}
        probe: dict[str, dict] = {}
        for backend in BACKENDS:
            env = {"KB_EMBEDDING_BACKEND": backend, "KB_MODEL_CACHE_DIR": str(cache_dir)}
            home, quality[backend] = semeval_map(backend, scratch, env)
            startup[backend] = serve_startup(home, env)
            probe[backend] = create_app_probe(home, env)

    rates = {b: len(texts) / statistics.median(bulk[b]) for b in BACKENDS}
    tokens = sum(len(splitter.tokenizer.encode(text).ids) for text in texts)
    print(
        f"{len(texts)} passages, {tokens / len(texts):.0f} tokens on average; "
        "batches of 32 (onnx-int8: one text per run)"
    )
    print(f"one-time ONNX export (fp32, then int8), torch already imported: {export_seconds:.1f} s")
    print(
        f"load average after the timed rounds: {' '.join(f'{x:.2f}' for x in load_during_timing)}"
    )
    print(
        "| path | bulk texts/s | ratio to torch | one query p50 (ms) | MAP dense | MAP hybrid "
        "| MAP hybrid, defaults | load in-process (s) | `kb serve` to /healthz (s) "
        "| create_app (s) | torch imported |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for backend in BACKENDS:
        maps = quality[backend]
        print(
            f"| {backend} | {rates[backend]:.1f} | {rates[backend] / rates['torch']:.2f} "
            f"| {1000 * statistics.median(latency[backend]):.2f} "
            f"| {maps['dense']:.4f} | {maps['hybrid']:.4f} "
            f"| {maps['hybrid, default settings']:.4f} "
            f"| {load_seconds[backend]:.1f} | {startup[backend]:.1f} "
            f"| {probe[backend]['seconds']:.2f} | {'yes' if probe[backend]['torch'] else 'no'} |"
        )
    batched_rate = len(texts) / statistics.median(batched_seconds)
    print(
        f"onnx-int8 in batches of 32 instead of one text per run: {batched_rate:.1f} texts/s "
        f"({batched_rate / rates['torch']:.2f} x torch)"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
