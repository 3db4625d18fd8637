"""Issue 7, goal 4: an index of a million entries in under 1 GB.

Builds kb's index (indexer/vectors/faiss_store.py, the type KB_IVF_THRESHOLD picks for the
size: IVF-SQ8) straight from generated stored vectors (bench/synthetic.py: real
embeddings of `--base` recombined texts, the rest those plus small noise), without
the database and without the model, then measures in the same run, against exact
search (`IndexFlatIP` over the same float32 vectors) as the baseline:

- recall@10 of the IVF index against exact search, for real questions (the eval
  sets' queries) and held-out synthetic entries, at several nprobe;
- one-query latency p50 of both;
- build time (training + adding) against what embedding the entries would take;
- the index file size, the time to load it in a fresh process (read into memory,
  as kb does by default, and memory-mapped, KB_INDEX_MMAP), and that process's
  memory (RSS) once it has answered the queries.

Usage: python bench/million.py [--size 1000000] [--base 20000] [--queries 300]
A quick run: --size 100000 --base 2000 (a few minutes).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import synthetic  # noqa: E402
from common import machine  # noqa: E402

from indexer.embedder import load_embedder  # noqa: E402
from indexer.vectors.faiss_params import IndexParams, cells_to_search  # noqa: E402
from indexer.vectors.faiss_store import FaissVectorStore  # noqa: E402
from indexer.vectors.keys import passage_key  # noqa: E402

MODEL = "all-MiniLM-L6-v2"


def rss_kib() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def probe_load(directory: Path, mode: str, queries_file: Path) -> None:
    """In a fresh process: load the index, answer the queries, report time and memory."""
    before = rss_kib()
    started = time.perf_counter()
    if mode == "mmap":
        index = FaissVectorStore.load(directory, MODEL, mmap=True)
        assert index is not None
        faiss_index = index.faiss_index
    else:
        meta = json.loads((directory / "index-meta.json").read_text())
        faiss_index = faiss.read_index(str(directory / meta["vectors_file"]))
    load_seconds = time.perf_counter() - started
    queries = np.load(queries_file)
    faiss_index.nprobe = cells_to_search(faiss_index.nlist, IndexParams().nprobe)
    for row in queries:
        faiss_index.search(row[np.newaxis, :], 10)
    after = rss_kib()
    print(
        json.dumps(
            {
                "load_seconds": load_seconds,
                "rss_mib": after["VmRSS"] / 1024,
                "index_rss_mib": (after["VmRSS"] - before["VmRSS"]) / 1024,
                "anon_mib": (after["RssAnon"] - before["RssAnon"]) / 1024,
                "file_mib": (after["RssFile"] - before["RssFile"]) / 1024,
            }
        )
    )


def timed_queries(index: faiss.Index, queries: np.ndarray, k: int = 10) -> tuple[float, np.ndarray]:
    """One query at a time on one thread, as kb's server searches (FaissVectorStore.search)."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    times, ids = [], []
    for row in queries:
        started = time.perf_counter()
        _, found = index.search(row[np.newaxis, :], k)
        times.append(time.perf_counter() - started)
        ids.append(found[0])
    faiss.omp_set_num_threads(threads)
    return statistics.median(times) * 1000, np.array(ids)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    return float(
        np.mean(
            [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, exact, strict=True)]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--base", type=int, default=20_000, help="entries embedded for real")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--encoding", default="sq8", choices=["sq8", "fp16"])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/kb-bench"))
    parser.add_argument("--probe-load", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="mmap", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_load:
        probe_load(args.probe_load, args.mode, args.queries_file)
        return

    print(f"{machine()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · load {os.getloadavg()}")
    embedder = load_embedder(
        MODEL, 32, "onnx-int8", Path(os.environ.get("KB_MODEL_CACHE_DIR", args.scratch / "models"))
    )
    texts = [f"{e.title}\n\n{e.body}" for e in synthetic.entries(args.base)]
    base, embed_seconds = synthetic.base_vectors(embedder, texts, args.scratch)
    per_text = embed_seconds / len(texts) if embed_seconds else None
    started = time.perf_counter()
    vectors = synthetic.expand(base, args.size)
    print(f"vectors: {args.size} ({args.base} embedded, {time.perf_counter() - started:.1f} s)")

    held_out = [f"{e.title}\n\n{e.body}" for e in synthetic.entries(args.queries, seed=99)][
        : max(0, args.queries - 170)
    ]
    query_texts = (synthetic.real_queries() + held_out)[: args.queries]
    queries = embedder.encode(query_texts)
    queries_file = args.scratch / "million-queries.npy"
    np.save(queries_file, queries)

    # Baseline: exact search over the float32 vectors.
    exact_index = faiss.IndexFlatIP(vectors.shape[1])
    exact_index.add(vectors)
    exact_ms, _ = timed_queries(exact_index, queries[:30])
    _, exact_ids = exact_index.search(queries, 10)
    del exact_index

    params = IndexParams(ivf_type=f"ivf-{args.encoding}")  # kb's defaults
    keys = np.array([passage_key(i + 1, 0) for i in range(args.size)], dtype=np.int64)
    started = time.perf_counter()
    index = FaissVectorStore.for_size(args.size, vectors.shape[1], MODEL, params)
    sample = vectors[
        np.random.default_rng(3).permutation(args.size)[: index.training_sample_size()]
    ]
    index.train(sample)
    train_seconds = time.perf_counter() - started
    for start in range(0, args.size, 100_000):
        index.add(keys[start : start + 100_000], vectors[start : start + 100_000])
    build_seconds = time.perf_counter() - started
    exact_keys = np.where(exact_ids >= 0, keys[np.maximum(exact_ids, 0)], -1)
    print(
        f"index: {index.index_type}, nlist {index.nlist}, trained on {len(sample)} vectors "
        f"in {train_seconds:.1f} s, built in {build_seconds:.1f} s"
    )
    default_nprobe = cells_to_search(index.nlist, params.nprobe)  # kb's, for this size
    rows = []
    for nprobe in sorted({32, 64, 128, 256, default_nprobe}):
        index.nprobe = nprobe
        ms, _ = timed_queries(index.faiss_index, queries[:100])
        found = index.search(queries, 10).keys
        rows.append((nprobe, recall_at_10(found, exact_keys), ms))
        real = recall_at_10(found[:170], exact_keys[:170])
        print(
            f"  nprobe {nprobe:>3}: recall@10 {rows[-1][1]:.4f} (real questions {real:.4f}), "
            f"one query p50 {ms:.2f} ms"
        )
    index.nprobe = default_nprobe
    directory = args.scratch / f"million-{args.size}"
    path = index.save(directory)
    size_mib = path.stat().st_size / 2**20
    del index, vectors

    loads = {}
    for mode in ("mmap", "read"):
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--probe-load",
                str(directory),
                "--mode",
                mode,
                "--queries-file",
                str(queries_file),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        loads[mode] = json.loads(output.strip().splitlines()[-1])

    print()
    print(
        f"| measure ({args.size:,} vectors, {args.base:,} embedded) "
        "| IVF-SQ8 (kb) | exact flat (baseline) | ratio |"
    )
    print("|---|---|---|---|")
    recall32 = next(r for n, r, _ in rows if n == default_nprobe)
    ms32 = next(m for n, _, m in rows if n == default_nprobe)
    print(f"| recall@10, nprobe {default_nprobe} | {recall32:.4f} | 1 | {recall32:.4f} |")
    print(f"| one query p50 | {ms32:.2f} ms | {exact_ms:.1f} ms | {ms32 / exact_ms:.3f} |")
    flat_mib = args.size * (vectors_dim := 384) * 4 / 2**20 + args.size * 8 / 2**20
    print(
        f"| index file | {size_mib:.0f} MiB | {flat_mib:.0f} MiB (float32 + ids) "
        f"| {size_mib / flat_mib:.3f} |"
    )
    for mode, label in (("read", "read into memory (kb)"), ("mmap", "memory-mapped")):
        figures = loads[mode]
        print(
            f"| load, {label} | {figures['load_seconds']:.2f} s; "
            f"process RSS {figures['rss_mib']:.0f} MiB "
            f"(index {figures['index_rss_mib']:.0f} MiB: {figures['anon_mib']:.0f} anon + "
            f"{figures['file_mib']:.0f} file-backed) | | |"
        )
    if per_text:
        print(
            f"| rebuild from stored vectors (train + add) | {build_seconds:.1f} s | "
            f"re-embedding {args.size:,} texts ≈ {per_text * args.size:.0f} s | "
            f"{build_seconds / (per_text * args.size):.4f} |"
        )
    else:
        print(
            f"| rebuild from stored vectors (train + add) | {build_seconds:.1f} s | "
            "(base vectors cached: no embedding rate this run) | |"
        )
    print(f"load after: {os.getloadavg()}; dim {vectors_dim}")


if __name__ == "__main__":
    main()
