"""Issue 16, item 7: `kb serve`'s worker processes in different arrangements, on the same
data and the same client load, in one run.

Arrangements, each with `--workers` processes (2) serving web.app:create_app with the
uvicorn.Config that `kb serve --workers N` builds:
  shared     what `kb serve --workers N` runs (web/workers.py): uvicorn's own supervisor,
             as `uvicorn --workers N` runs it, one listening socket bound by the parent
             and shared by the workers; whichever wakes first accepts.
  reuseport  uvicorn's supervisor, each worker with its own listening socket bound with
             SO_REUSEPORT: the kernel spreads new connections over them (by a hash of
             the addresses and ports, not by load).

Data: bench/search_scale.py's `--size` synthetic entries with stored vectors (made once,
then reused), indexed by `kb reindex` at kb's defaults (IVF-SQ8 at 100k).

Each round starts each arrangement in turn (the order rotated every round), warms it up
(one client, 5 queries per client: its p50 is printed, and would show Nagle's 40 ms), then
sends search_scale's load: `--clients` keep-alive clients, connecting together, each with
its own share of `--requests` distinct queries, hybrid (the default mode) and then dense.
Last, a second load model, hybrid only: the same clients take the next query from one
queue, as a reverse proxy hands each request to whichever kept-alive connection is free,
so a client whose worker is less busy sends more. Within a round every arrangement gets
the same queries; every round has new ones. While the clients run, /proc tells how their
connections were split among the workers.

Until issue 16 kb served with a third arrangement, the "dealer": its parent accepted every
connection and passed it to the next worker over a socket pair (SCM_RIGHTS). This script
measured it against the two above (commit 53a5a6f has that version), by a rule set before
the first run: keep the dealer only if its hybrid requests/s with 8 keep-alive clients beat
the better standard arrangement's by more than 10 %, as the median over the rounds of the
per-round ratio. It did not (BENCHMARKS.md, "Workers: dealer vs standard arrangement"),
and was removed.

Usage: python bench/workers.py [--size 100000] [--base 5000] [--rounds 8]
       [--requests 600] [--clients 8] [--workers 2] [--keep-running]
With --keep-running the servers start once and stay up, so rounds can be short and
closely interleaved (e.g. --rounds 30 --requests 160) on a machine whose load changes.
A quick run: --size 5000 --base 500 --rounds 2 --requests 120.
"""

import argparse
import http.client
import os
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import synthetic  # noqa: E402
import uvicorn  # noqa: E402
from common import kb, machine  # noqa: E402
from search_scale import Server, concurrent_clients, one_client, pct, scale_home  # noqa: E402
from uvicorn.supervisors.multiprocess import Multiprocess, Process  # noqa: E402

from web.workers import serve_workers  # noqa: E402

ARRANGEMENTS = ("shared", "reuseport")
MODES = ("hybrid", "dense", "hybrid-queue")


# --- the arrangements, run as `python bench/workers.py serve ARRANGEMENT --port P` ---


class ReusePortSupervisor(Multiprocess):
    """uvicorn's supervisor with one SO_REUSEPORT listening socket per worker."""

    def init_processes(self) -> None:
        for listener in self.sockets:
            process = Process(self.config, [listener])
            process.start()
            self.processes.append(process)


def reuseport_listeners(config: uvicorn.Config, count: int) -> list[socket.socket]:
    listeners = []
    for _ in range(count):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((config.host, config.port))
        listener.set_inheritable(True)
        listeners.append(listener)
    return listeners


def serve(arrangement: str, workers: int, port: int) -> None:
    # As kb serve --workers N builds it (kb/cli.py), proxy headers off (no KB_FORWARDED_*).
    config = uvicorn.Config(
        "web.app:create_app",
        factory=True,
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="info",
        proxy_headers=False,
    )
    if arrangement == "shared":
        serve_workers(config, workers)
    elif arrangement == "reuseport":
        ReusePortSupervisor(config, sockets=reuseport_listeners(config, workers)).run()
    else:
        raise SystemExit(f"unknown arrangement {arrangement}")


# --- measuring ---


def connection_split(server: Server, clients: int, timeout: float = 10.0) -> list[int]:
    """How many of the clients' established connections each server process holds,
    largest first; sampled once all `clients` are connected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == server.port and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(int(fields[9]))
        if len(inodes) >= clients:
            owners: Counter[int] = Counter()
            for pid in server.processes():
                for descriptor in Path(f"/proc/{pid}/fd").glob("*"):
                    try:
                        target = os.readlink(descriptor)
                    except OSError:
                        continue
                    if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                        owners[pid] += 1
            return sorted(owners.values(), reverse=True)
        time.sleep(0.02)
    return []


def measure(server: Server, queries: list[str], clients: int, mode: str) -> dict[str, float | str]:
    """One load (`mode`: hybrid or dense with fixed shares, or hybrid-queue)."""
    split: list[int] = []
    sampler = threading.Thread(
        target=lambda: split.extend(connection_split(server, clients)), daemon=True
    )
    cpu_before = server.cpu_seconds()
    sampler.start()
    if mode == "hybrid-queue":
        rate, times = pulling_clients(server.url, queries, clients)
    else:
        rate, times = concurrent_clients(server.url, queries, clients, mode)
    sampler.join()
    return {
        "rate": rate,
        "p50": statistics.median(times) * 1000,
        "p99": pct(times, 99),
        "cpu_ms": (server.cpu_seconds() - cpu_before) / len(queries) * 1000,
        "split": "/".join(map(str, split)) or "?",
        "times": times,  # type: ignore[dict-item]
    }


def pulling_clients(url: str, queries: list[str], clients: int) -> tuple[float, list[float]]:
    """`clients` keep-alive connections, each taking the next query from one queue."""
    address = urllib.parse.urlsplit(url)
    pending = iter(queries)
    lock = threading.Lock()
    times: list[float] = []

    def run() -> None:
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
        mine = []
        try:
            while True:
                with lock:
                    query = next(pending, None)
                if query is None:
                    break
                started = time.perf_counter()
                connection.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query}))
                response = connection.getresponse()
                response.read()
                mine.append(time.perf_counter() - started)
                if response.status != 200:
                    raise SystemExit(f"search for {query!r} answered {response.status}")
        finally:
            connection.close()
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(queries) / (time.perf_counter() - started), times


def listed(values: list[float]) -> str:
    """Each value, or their range when there are many."""
    if len(values) > 10:
        return f"{min(values):.1f} to {max(values):.1f}"
    return ", ".join(f"{value:.1f}" for value in values)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f} to {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=5_000, help="entries embedded for real")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=600, help="per mode per measurement")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arrangements", default=",".join(ARRANGEMENTS))
    parser.add_argument("--modes", default=",".join(MODES), help="loads, in this order")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="start each arrangement once and keep it for every round (short rounds, "
        "closely interleaved), instead of a fresh start each round",
    )
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/kb-bench"))
    args = parser.parse_args()
    arrangements = args.arrangements.split(",")
    modes = args.modes.split(",")
    scratch = args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KB_MODEL_CACHE_DIR", str(scratch / "models"))
    print(f"{machine()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · load {os.getloadavg()}")
    started = time.perf_counter()
    home = scale_home(scratch, args.size, args.base)
    print(kb(home, "reindex").strip(), f"[{time.perf_counter() - started:.1f} s]")

    n, warm = args.requests, 5 * args.clients
    per_round = len(modes) * n + warm
    wanted = args.rounds * per_round
    titles = [e.title for e in synthetic.entries(3 * wanted, seed=321)]  # titles repeat
    pool = list(dict.fromkeys(synthetic.real_queries() + titles))
    if len(pool) < wanted:
        raise SystemExit(f"only {len(pool)} distinct queries for {args.rounds} rounds")
    results: dict[str, dict[str, list[dict[str, float | str]]]] = {
        name: {mode: [] for mode in modes} for name in arrangements
    }
    alone: dict[str, list[float]] = {name: [] for name in arrangements}
    pooled: dict[str, dict[str, list[float]]] = {
        name: {mode: [] for mode in modes} for name in arrangements
    }

    def start(name: str) -> Server:
        return Server(
            home, {}, command=[sys.executable, __file__, "serve", name, str(args.workers)]
        )

    running = {name: start(name) for name in arrangements} if args.keep_running else {}
    try:
        for round_ in range(args.rounds):
            queries = pool[round_ * per_round : (round_ + 1) * per_round]
            turn = round_ % len(arrangements)
            for name in arrangements[turn:] + arrangements[:turn]:
                server = running.get(name) or start(name)
                try:
                    times = one_client(server.url, queries[:warm])  # warm up, one connection
                    alone[name].append(statistics.median(times) * 1000)
                    for number, mode in enumerate(modes):
                        mine = queries[warm + number * n : warm + (number + 1) * n]
                        result = measure(server, mine, args.clients, mode)
                        pooled[name][mode].extend(result.pop("times"))  # type: ignore[arg-type]
                        results[name][mode].append(result)
                        print(
                            f"round {round_ + 1} {name:<9} {mode:<12} {result['rate']:6.1f} "
                            f"req/s p50 {result['p50']:6.1f} ms p99 {result['p99']:6.1f} ms "
                            f"cpu {result['cpu_ms']:5.1f} ms/req split {result['split']} "
                            f"· load {os.getloadavg()[0]:.2f}",
                            flush=True,
                        )
                finally:
                    if name not in running:
                        server.stop()
    finally:
        for server in running.values():
            server.stop()

    print()
    print(
        f"{args.size:,} entries, {args.workers} workers, {args.clients} keep-alive clients, "
        f"{n} distinct queries per mode per round, {args.rounds} rounds "
        f"[{time.perf_counter() - started:.0f} s]"
    )
    print(
        "| arrangement | mode | requests/s: median (rounds) | p50 ms "
        "| p99 ms: median (rounds) | p99 ms of all requests | server CPU ms/request "
        "| connection splits |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in arrangements:
        for mode in modes:
            rows = results[name][mode]
            rates = [float(r["rate"]) for r in rows]
            p99s = [float(r["p99"]) for r in rows]
            splits = Counter(str(r["split"]) for r in rows)
            print(
                f"| {name} | {mode} | **{statistics.median(rates):.1f}** ({listed(rates)}) "
                f"| {statistics.median(float(r['p50']) for r in rows):.1f} "
                f"| **{statistics.median(p99s):.1f}** ({listed(p99s)}) "
                f"| {pct(pooled[name][mode], 99):.1f} "
                f"| {statistics.median(float(r['cpu_ms']) for r in rows):.1f} "
                f"| {', '.join(f'{split} ×{count}' for split, count in splits.most_common())} |"
            )
    for name in arrangements:
        print(
            f"{name}: one client (warm-up), hybrid p50 {statistics.median(alone[name]):.1f} ms "
            f"({', '.join(f'{v:.1f}' for v in alone[name])})"
        )
    print()
    print("Ratios per round, median (min to max); above 1: x better than y")
    print("(requests/s x / y, p99 y / x)")
    for name in arrangements:
        for other in arrangements:
            if name == other:
                continue
            for mode in modes:
                mine, theirs = results[name][mode], results[other][mode]
                rate = [
                    float(a["rate"]) / float(b["rate"]) for a, b in zip(mine, theirs, strict=True)
                ]
                p99 = [float(b["p99"]) / float(a["p99"]) for a, b in zip(mine, theirs, strict=True)]
                print(f"{name} vs {other}, {mode}: requests/s {spread(rate)}; p99 {spread(p99)}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
