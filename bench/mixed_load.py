"""Mixed load over HTTP: searchers and writers in parallel against a real `kb serve`.
Every request must succeed and every write must be there afterwards.

Usage: python bench/mixed_load.py [--seconds 60] [--searchers 4] [--writers 2]
"""

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import kb, machine  # noqa: E402
from tests.web_helpers import running_server  # noqa: E402

QUERIES = [
    "compressor trips on hot afternoons",
    "0x80070005",
    "lathe alarm after warm-up",
    "outlook asks for password",
    "press loses pressure",
    "SK-4471",
    "how do I plan a project kickoff",
    "learners drop out of evening classes",
]
WRITERS = ["grace.okafor", "tomas.novak", "priya.nair", "leon.fischer"]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {"search": [], "write": []}
        self.errors: list[str] = []
        self.written: list[str] = []

    def record(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


def searcher(base: str, stop: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                response = client.get("/api/search", params={"q": rng.choice(QUERIES)})
                if response.status_code != 200:
                    tally.error(f"search {response.status_code}: {response.text[:200]}")
            except httpx.HTTPError as error:
                tally.error(f"search: {error!r}")
            tally.record("search", time.perf_counter() - started)


def writer(base: str, token: str, stop: float, tally: Tally, number: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        count = 0
        while time.monotonic() < stop:
            count += 1
            title = f"Load test problem {number}-{count}: conveyor C{count % 9} stops"
            started = time.perf_counter()
            try:
                response = client.post(
                    "/api/problems",
                    json={"title": title, "body": "Written by the mixed-load benchmark."},
                )
                if response.status_code != 201:
                    tally.error(f"write {response.status_code}: {response.text[:200]}")
                else:
                    entry = response.json()["id"]
                    with tally.lock:
                        tally.written.append(entry)
                    comment = client.post(
                        f"/api/entries/{entry}/comments", json={"body": "Checked the belt."}
                    )
                    if comment.status_code != 201:
                        tally.error(f"comment {comment.status_code}: {comment.text[:200]}")
            except httpx.HTTPError as error:
                tally.error(f"write: {error!r}")
            tally.record("write", time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--searchers", type=int, default=4)
    parser.add_argument("--writers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kb-home"
        kb(home, "demo", "--no-serve")
        tokens = [
            kb(home, "token", "create", WRITERS[i % len(WRITERS)]).strip()
            for i in range(args.writers)
        ]
        tally = Tally()
        with running_server(home, KB_PUBLIC_READ="1") as base:
            stop = time.monotonic() + args.seconds
            threads = [
                threading.Thread(target=searcher, args=(base, stop, tally, i))
                for i in range(args.searchers)
            ] + [
                threading.Thread(target=writer, args=(base, tokens[i], stop, tally, i))
                for i in range(args.writers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            missing = []
            with httpx.Client(base_url=base, timeout=30) as client:
                for entry in tally.written:
                    if client.get(f"/api/entries/{entry}").status_code != 200:
                        missing.append(entry)
                last = tally.written[-1] if tally.written else None
                found = False
                if last is not None:
                    title = client.get(f"/api/entries/{last}").json()["title"]
                    hits = client.get("/api/search", params={"q": title, "limit": 5}).json()
                    found = last in {hit["id"] for hit in hits["hits"]}
    print(f"{machine()}; {args.searchers} searchers + {args.writers} writers, {args.seconds:g} s")
    for kind, values in tally.latencies.items():
        if values:
            print(
                f"{kind:<7} {len(values):6d} requests  {len(values) / args.seconds:7.1f}/s  "
                f"p50 {percentile(values, 0.5):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms  "
                f"mean {statistics.mean(values) * 1000:7.1f} ms"
            )
    print(
        f"errors: {len(tally.errors)}; problems written: {len(tally.written)}, "
        f"missing afterwards: {len(missing)}; the last one found by search: {found}"
    )
    for message in tally.errors[:10]:
        print("  ", message)


if __name__ == "__main__":
    main()
