"""Search latency in process, two code trees interleaved in one run (issue 16, item 5).

Times `SearchEngine.search` on one thread, as a server request runs it (embedder
with one thread, gc frozen after startup), for the same knowledge base and the same
queries under each tree given by --trees: e.g. the commit before a change (a
`git worktree` of it) and the change itself. Each round starts one fresh process
per tree, in alternating order; each process searches every query in every mode
twice: first as new texts (the model embeds each), then again (query-cache hits,
so the rest of the search path dominates). Each search is timed by the clock (wall)
and by the CPU time of the process (cpu: all its threads; less disturbed by other
programs waiting for the same cores). Ratios are new / old: of the medians of
all searches, and the median of each round's ratio (the two trees' processes of one
round ran next to each other, so under the same load from other programs).

Usage: python bench/engine_latency.py --trees OLD_ROOT NEW_ROOT [--rounds 6]
       [--size 0] [--base 500] [--queries 170] [--home DIR]
--size 0 searches the demo corpus; a larger size generates entries as
bench/search_scale.py does (--base of them embedded for real, the rest noisy copies).
"""

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("hybrid", "dense", "keyword")
BENCH = Path(__file__).resolve().parent


def measure(tree: Path, home: Path, queries: list[str]) -> dict[str, list[float]]:
    """In this process, with the code of `tree`: seconds per search, by mode, pass and clock."""
    sys.path.insert(0, str(tree))
    from indexer.embedder import embedder_for
    from kb.database import Database
    from kb.settings import Settings
    from search.engine import SearchEngine, SearchMode

    settings = Settings(home=home)
    database = Database.from_settings(settings)
    engine = SearchEngine.open(settings, database, embedder_for(settings, threads=1))
    for text in ("warm up the model", "and the keyword index", "and the database"):
        engine.search(text, limit=10)
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {}
    for mode in MODES:
        # Another text per mode, so that the first pass of each embeds every query.
        texts = [f"{text} ({mode})" for text in queries]
        for run in ("new text", "cached"):
            wall, cpu = times[f"{mode}, {run}, wall"], times[f"{mode}, {run}, cpu"] = [], []
            for text in texts:
                started, started_cpu = time.perf_counter(), time.process_time()
                engine.search(text, limit=10, mode=SearchMode(mode))
                cpu.append(time.process_time() - started_cpu)
                wall.append(time.perf_counter() - started)
    engine.close()
    database.dispose()
    return times


def prepare(home: Path, size: int, base: int) -> None:
    """The knowledge base both trees search, made once with the newer tree's code."""
    from common import REPO, kb

    if (home / "index").exists():
        return
    if size == 0:
        kb(home, "import", str(REPO / "corpus"))
        return
    import synthetic
    from search_scale import store_vectors

    source = synthetic.write_jsonl(home.parent / f"entries-{size}.jsonl", size)
    kb(home, "import", "--no-index", str(source))
    from kb.settings import Settings

    store_vectors(Settings(home=home), base, home.parent)
    kb(home, "reindex")


def run_tree(tree: Path, home: Path, queries_file: Path) -> dict[str, list[float]]:
    env = {**os.environ, "KB_HOME": str(home), "PYTHONPATH": str(tree)}
    output = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            str(tree),
            "--home",
            str(home),
            "--queries-file",
            str(queries_file),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trees", type=Path, nargs=2, metavar=("OLD", "NEW"))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--size", type=int, default=0, help="0: the demo corpus")
    parser.add_argument("--base", type=int, default=500)
    parser.add_argument("--queries", type=int, default=170)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        queries = json.loads(args.queries_file.read_text())
        print(json.dumps(measure(args.measure, args.home, queries)))
        return

    sys.path.insert(0, str(BENCH.parent))
    import synthetic
    from common import machine

    with tempfile.TemporaryDirectory() as scratch_name:
        home = args.home or Path(scratch_name) / "kb-home"
        prepare(home, args.size, args.base)
        queries_file = Path(scratch_name) / "queries.json"
        queries_file.write_text(json.dumps(synthetic.real_queries()[: args.queries]))
        old, new = (tree.resolve() for tree in args.trees)
        # tree -> "mode, pass, clock" -> one list of seconds per round
        results: dict[Path, dict[str, list[list[float]]]] = {old: {}, new: {}}
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        load = os.getloadavg()[0]
        for round_number in range(args.rounds):
            order = (old, new) if round_number % 2 == 0 else (new, old)
            for tree in order:
                for name, seconds in run_tree(tree, home, queries_file).items():
                    results[tree].setdefault(name, []).append(seconds)
            print(f"round {round_number + 1} of {args.rounds} done", file=sys.stderr)

    def ms(values: list[float], quantile: float) -> float:
        return sorted(values)[min(int(quantile * len(values)), len(values) - 1)] * 1000

    size = f"{args.size:,} synthetic entries" if args.size else "the demo corpus"
    print(f"\nSearchEngine.search on {size}; {args.rounds} rounds, trees alternating")
    print(f"{started}, load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"old: {old}\nnew: {new}\nmachine: {machine()}")
    print(
        f"{'mode, pass, clock':<22} {'searches':>8} {'old p50':>8} {'new p50':>8} {'ratio':>6} "
        f"{'rounds: median ratio (min-max)':>31} {'old p95':>8} {'new p95':>8}"
    )
    for name, rounds in results[old].items():
        before = [value for run in rounds for value in run]
        after = [value for run in results[new][name] for value in run]
        per_round = [
            ms(later, 0.5) / ms(earlier, 0.5)
            for earlier, later in zip(rounds, results[new][name], strict=True)
        ]
        spread = f"{statistics.median(per_round):.3f} ({min(per_round):.2f}-{max(per_round):.2f})"
        print(
            f"{name:<22} {len(after):>8} {ms(before, 0.5):>8.2f} {ms(after, 0.5):>8.2f} "
            f"{ms(after, 0.5) / ms(before, 0.5):>6.3f} {spread:>31} "
            f"{ms(before, 0.95):>8.2f} {ms(after, 0.95):>8.2f}"
        )


if __name__ == "__main__":
    main()
