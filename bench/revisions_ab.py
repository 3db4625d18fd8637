"""Search latency and reindex throughput of two checkouts of kb, measured in one run.

For issue 16 (the restructuring must not slow kb down), but it compares any two trees:
    python bench/revisions_ab.py BASE_TREE NEW_TREE [--rounds 3] [--queries 300]

1. Search over HTTP: each tree serves the demo corpus from a home of its own (imported
   and indexed by that tree's `kb`), one worker each, both running at once. Requests
   alternate between them (A, B, A, B, …: the machine's noise falls on both alike),
   one client, GET /api/search (hybrid) with distinct queries, then the same queries
   again (query cache hits). Prints p50 and p95 per tree and their ratio.
2. Reindex: each tree's own bench/reindex_throughput.py, alternately, `--rounds` times.
   Its "ratio" (full reindex against raw model encoding of the same passages, in the same
   process) is the figure that travels; entries/s is shown beside it.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import EVAL_DIR, machine  # noqa: E402


def tree_env(tree: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    return {
        **env,
        "PYTHONPATH": str(tree),
        "KB_HOME": str(home),
        "KB_PUBLIC_READ": "1",
        "HF_HUB_OFFLINE": "1",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def kb(tree: Path, home: Path, *args: str) -> None:
    command = [sys.executable, "-m", "kb", *args]
    subprocess.run(command, cwd=tree, env=tree_env(tree, home), check=True, capture_output=True)


def serve(tree: Path, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--port", str(port), "--workers", "1"],
        cwd=tree,
        env=tree_env(tree, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"kb serve from {tree} did not start")


def queries(count: int) -> list[str]:
    texts = []
    for name in ("semeval2016-dev", "semeval2016-train"):
        for line in (EVAL_DIR / name / "queries.jsonl").open():
            texts.append(json.loads(line)["text"][:300])
    for line in (EVAL_DIR / "semeval2016-dev" / "corpus.jsonl").open():
        texts.append(json.loads(line)["title"])
    distinct = list(dict.fromkeys(t for t in texts if t.strip()))
    return distinct[:count]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def search_latency(trees: list[Path], scratch: Path, count: int) -> None:
    servers, clients = [], []
    try:
        for number, tree in enumerate(trees):
            home = scratch / f"home-{number}"
            kb(tree, home, "import", str(trees[-1] / "corpus"))
            server, url = serve(tree, home)
            servers.append(server)
            clients.append(httpx.Client(base_url=url, timeout=30))
        texts = queries(count)
        for client in clients:  # warm-up: first requests load lazily built state
            for text in texts[:10]:
                client.get("/api/search", params={"q": text + " warm"})
        for label in ("distinct queries", "same queries again (cache)"):
            times: list[list[float]] = [[] for _ in trees]
            for text in texts:
                for number, client in enumerate(clients):
                    started = time.perf_counter()
                    response = client.get("/api/search", params={"q": text})
                    times[number].append(1000 * (time.perf_counter() - started))
                    response.raise_for_status()
            p50 = [statistics.median(t) for t in times]
            p95 = [percentile(t, 0.95) for t in times]
            print(
                f"search, {label}, {len(texts)} queries: p50 {p50[0]:.2f} / {p50[1]:.2f} ms "
                f"(ratio {p50[1] / p50[0]:.3f}), p95 {p95[0]:.2f} / {p95[1]:.2f} ms "
                f"(ratio {p95[1] / p95[0]:.3f})"
            )
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.terminate()
            server.wait(timeout=30)


REINDEX_LINE = re.compile(
    r"full reindex\s*:\s*([\d.]+) s\s+([\d.]+) entries/s\s+\(ratio ([\d.]+)\)"
)


def reindex_throughput(trees: list[Path], scratch: Path, rounds: int) -> None:
    rates: list[list[float]] = [[] for _ in trees]
    ratios: list[list[float]] = [[] for _ in trees]
    for _ in range(rounds):
        for number, tree in enumerate(trees):
            result = subprocess.run(
                [sys.executable, "bench/reindex_throughput.py", "--copies", "2"],
                cwd=tree,
                env=tree_env(tree, scratch / "unused"),
                check=True,
                capture_output=True,
                text=True,
            )
            found = REINDEX_LINE.search(result.stdout)
            if found is None:
                raise RuntimeError(result.stdout + result.stderr)
            rates[number].append(float(found[2]))
            ratios[number].append(float(found[3]))
    rate = [statistics.median(r) for r in rates]
    ratio = [statistics.median(r) for r in ratios]
    print(
        f"reindex, 1,000 entries, {rounds} rounds each, medians: {rate[0]:.1f} / {rate[1]:.1f} "
        f"entries/s (ratio {rate[1] / rate[0]:.3f}); against raw encoding "
        f"{ratio[0]:.3f} / {ratio[1]:.3f} (ratio {ratio[1] / ratio[0]:.3f})"
    )
    print(f"  per round, entries/s: {rates[0]} / {rates[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    trees = [args.base.resolve(), args.new.resolve()]
    print(f"machine: {machine()}; A = {trees[0]}, B = {trees[1]}; figures A / B")
    scratch = Path(tempfile.mkdtemp(prefix="kb-ab-"))
    try:
        search_latency(trees, scratch, args.queries)
        reindex_throughput(trees, scratch, args.rounds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
