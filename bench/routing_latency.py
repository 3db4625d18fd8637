"""Issue 15: how long suggesting people for one problem takes, at 100k entries.

1. Generates `--size` entries from realistic text (bench/synthetic.py): half problems,
   half solutions (each solves an earlier problem; one in three accepted), by 2,000
   people over three years, two tags each; imports them with `kb import --no-index`.
2. Stores their vectors without the model (bench/search_scale.py's recipe: the first
   `--base` entries embedded for real, the rest copies plus small noise); `kb reindex`
   builds the index from them.
3. Trains a routing model on the newest `--train` solved problems (in process, the code
   `kb tune routing` runs; the weights do not change the time of a suggestion).
4. In one process, for `--queries` distinct real questions (the eval sets), times
   `suggest_people` (what the API and the web app call) with the learned model and,
   taking turns query by query, with the formula (the same-run baseline). The first
   learned suggestion, which reads the history once, is timed apart.

Usage: python bench/routing_latency.py [--size 100000] [--base 2000] [--queries 100]
A quick run: --size 5000 --base 500 --queries 30.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import synthetic  # noqa: E402
from common import kb, machine  # noqa: E402
from search_scale import store_vectors  # noqa: E402

from indexer.embedder import embedder_for  # noqa: E402
from kb.database import Database  # noqa: E402
from kb.settings import Settings  # noqa: E402
from search.engine import SearchEngine  # noqa: E402


def write_history(path: Path, count: int, people: int = 2000) -> None:
    rng = random.Random(5)
    start = datetime(2023, 1, 1)
    span = timedelta(days=3 * 365).total_seconds()
    problems: list[tuple[str, datetime]] = []
    with path.open("w") as out:
        for number, entry in enumerate(synthetic.entries(count)):
            moment = start + timedelta(seconds=span * number / count)
            record: dict[str, object] = {
                "id": entry.id,
                "title": entry.title,
                "body": entry.body,
                "author": f"person{rng.randrange(people)}",
                "community": entry.community,
                "tags": entry.tags,
                "created_at": moment.isoformat(timespec="seconds"),
            }
            if number % 2 == 0 or not problems:
                record["kind"] = "problem"
                problems.append((entry.id, moment))
            else:
                record["kind"] = "solution"
                record["solves"] = problems[-1 - min(rng.randrange(20), len(problems) - 1)][0]
                record["accepted"] = rng.random() < 1 / 3
            out.write(json.dumps(record) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    from search import expert_features
    from search.expert_model import train
    from search.experts import find_experts
    from search.learned_routing import history_of, replay_groups
    from search.routing import open_load, suggest_people, unavailable_people

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = args.keep or Path(scratch_name)
        home = scratch / f"routing-{args.size}"
        if not (home / "kb.db").exists():
            source = scratch / f"routing-{args.size}.jsonl"
            write_history(source, args.size)
            started = time.perf_counter()
            print(kb(home, "import", "--no-index", str(source)).strip())
            store_vectors(Settings(home=home), args.base, scratch)
            print(kb(home, "reindex").strip())
            print(f"built in {time.perf_counter() - started:.0f} s")
        settings = Settings(home=home)
        database = Database.from_settings(settings)
        engine = SearchEngine.open(settings, database, embedder_for(settings))
        queries = synthetic.real_queries()[: args.queries]
        with database.session() as session:
            started = time.perf_counter()
            history = history_of(engine, session)
            load_seconds = time.perf_counter() - started
            expert_features.MAX_REPLAY = args.train
            started = time.perf_counter()
            groups = replay_groups(engine, session, history)
            model = train(history, groups)
            train_seconds = time.perf_counter() - started
            model.save(home)
            # Warm both paths (query vectors are cached by text, so use other texts).
            for text in synthetic.real_queries()[-3:]:
                suggest_people(engine, session, text[:1000])
            learned, formula = [], []
            for text in queries:
                text = text[:1000]
                started = time.perf_counter()
                suggest_people(engine, session, text)
                learned.append(time.perf_counter() - started)
                started = time.perf_counter()
                find_experts(
                    engine,
                    text,
                    limit=3,
                    load=open_load(session),
                    unavailable=unavailable_people(session),
                )
                formula.append(time.perf_counter() - started)
        engine.close()
        database.dispose()

    def ms(values: list[float], q: float) -> float:
        return sorted(values)[min(int(q * len(values)), len(values) - 1)] * 1000

    print(f"\nrouting latency at {args.size:,} entries; machine: {machine()}")
    print(
        f"history read once: {load_seconds:.1f} s; {len(groups)} problems replayed and "
        f"trained in {train_seconds:.1f} s"
    )
    print(f"{'path':<34} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, values in (("learned (suggest_people)", learned), ("formula (same run)", formula)):
        print(
            f"{name:<34} {ms(values, 0.5):>8.1f} {ms(values, 0.95):>8.1f} "
            f"{statistics.mean(values) * 1000:>8.1f}"
        )
    print(f"ratio learned / formula, p50: {ms(learned, 0.5) / ms(formula, 0.5):.2f}")


if __name__ == "__main__":
    main()
