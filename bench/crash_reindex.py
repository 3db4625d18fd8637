"""Crash safety of `kb reindex`: kill -9 it at random moments, then check that the saved
index always loads and that, after one more reindex, every entry is searchable.

Usage: python bench/crash_reindex.py [--kills 20] [--copies 1] [--seed 7]

Uses the SemEval dev questions (real forum text, `--copies` times) from ../shared/eval,
imported with --no-index, so every `kb reindex --full` has real work to be killed in.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import kb, machine  # noqa: E402
from bench.reindex_throughput import write_corpus  # noqa: E402


def reindex_seconds(home: Path) -> float:
    started = time.perf_counter()
    kb(home, "reindex", "--full")
    return time.perf_counter() - started


def kill_during_reindex(home: Path, after: float) -> bool:
    """Start a full reindex, SIGKILL it `after` seconds in; True if it was still running."""
    env = {**os.environ, "KB_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "reindex", "--full"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(after)
    running = process.poll() is None
    if running:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return running


def index_loads_and_answers(home: Path) -> int:
    """`kb status` reads the saved index; returns the number of vectors it holds."""
    status = json.loads(kb(home, "status", "--json"))
    kb(home, "search", "pump", "--limit", "1")
    return int(status.get("index_vectors", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kb-home"
        source = Path(folder) / "corpus.jsonl"
        entries = write_corpus(source, args.copies)
        kb(home, "import", str(source), "--no-index")
        baseline = reindex_seconds(home)  # also the first, complete index
        print(f"{machine()}; {entries} entries; a full reindex takes {baseline:.1f} s")
        killed = loads = 0
        started = time.perf_counter()
        for attempt in range(1, args.kills + 1):
            after = rng.uniform(0.3, baseline * 0.9)
            killed += kill_during_reindex(home, after)
            vectors = index_loads_and_answers(home)
            loads += 1
            print(f"kill {attempt:2d} at {after:5.1f} s: index loads, {vectors} vectors")
        kb(home, "reindex")
        status = json.loads(kb(home, "status", "--json"))
        print(
            f"\n{killed} of {args.kills} kills hit a running reindex; the index loaded after "
            f"{loads} of {args.kills}; after one more `kb reindex`: {status.get('entries')} "
            f"entries, {status.get('entries_to_embed')} to embed, "
            f"{status.get('index_vectors')} of {status.get('stored_passages')} stored passages "
            f"in the index, index current: {status.get('index_current')}; "
            f"{time.perf_counter() - started:.0f} s in all"
        )


if __name__ == "__main__":
    main()
