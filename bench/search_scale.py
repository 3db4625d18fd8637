"""Issue 7, goal 3: search at 100k entries, over HTTP on loopback.

1. Generates `--size` entries from realistic text (bench/synthetic.py) and imports
   them with `kb import --no-index` (timed: entries/s).
2. Stores their vectors in the database without the model: the first `--base`
   entries' passages embedded for real through kb's embedder, the rest copies of
   those plus small noise (issue 7's recipe for sizes one cannot embed in minutes).
3. `kb reindex` then builds the index from the stored vectors only (nothing to
   embed): IVF-SQ8 at the default KB_IVF_THRESHOLD; the same database indexed
   exact-flat (KB_IVF_THRESHOLD above the size) is the same-run baseline.
4. For each index, a fresh `kb serve` (KB_PUBLIC_READ=1) answers GET /api/search
   (hybrid, the default): one client, distinct queries (p50, p95) and the same
   queries again (query cache hits); then `--clients` concurrent clients
   (requests/s, p50, p99). Queries are real questions (the eval sets) and titles of
   held-out synthetic entries; no query text repeats within a measurement.
5. Peak RSS (VmHWM) of each `kb serve`, and of one serving the demo corpus.

Usage: python bench/search_scale.py [--size 100000] [--base 5000] [--requests 300]
       [--workers N (default: kb's, one per core)] [--repeat 1]
A quick run: --size 5000 --base 500 --requests 60 --ivf-threshold 2000 --skip-demo.
"""

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import synthetic  # noqa: E402
from common import REPO, kb, machine  # noqa: E402
from sqlalchemy import select, update  # noqa: E402

from indexer.embedder import embedder_for  # noqa: E402
from kb.database import Database  # noqa: E402
from kb.index_state import bump_generation  # noqa: E402
from kb.models import Entry, Passage  # noqa: E402
from kb.settings import Settings  # noqa: E402
from web.workers import default_workers  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store_vectors(settings: Settings, base: int, scratch: Path) -> dict[str, float]:
    """One passage per entry, its vector stored as kb stores it; no model for most."""
    embedder = embedder_for(settings)
    database = Database.from_settings(settings)
    with database.session() as session:
        rows = session.execute(select(Entry.id, Entry.title, Entry.body).order_by(Entry.id)).all()
    texts = [f"{title.strip()}\n\n{body.strip()}".strip() for _, title, body in rows[:base]]
    base_vectors, embed_seconds = synthetic.base_vectors(embedder, texts, scratch)
    vectors = synthetic.expand(base_vectors, len(rows))
    started = time.perf_counter()
    with database.session() as session:
        session.execute(
            Passage.__table__.insert(),
            [
                {
                    "entry_id": entry_id,
                    "passage_no": 0,
                    "start_char": 0,
                    "end_char": len(body.strip()),
                    "vector": vectors[number].tobytes(),
                }
                for number, (entry_id, _title, body) in enumerate(rows)
            ],
        )
        session.execute(
            update(Entry).values(
                embedded_hash=Entry.content_hash, embedding_model=embedder.model_id
            )
        )
        bump_generation(session, embedder.model_id, [])  # all changed: a server rebuilds
        session.commit()
    database.dispose()
    return {
        "embedded": len(texts),
        "embed_seconds": embed_seconds,
        "store_seconds": time.perf_counter() - started,
    }


def scale_home(scratch: Path, size: int, base: int) -> Path:
    """A KB_HOME with `size` synthetic entries and their vectors stored (not yet indexed);
    made once, then reused by later runs."""
    home = scratch / f"scale-{size}"
    ready = home / "vectors-stored"
    if not ready.exists():
        if home.exists():
            subprocess.run(["rm", "-rf", str(home)], check=True)
        source = synthetic.write_jsonl(scratch / f"scale-{size}.jsonl", size)
        print(kb(home, "import", "--no-index", str(source)).strip())
        stored = store_vectors(Settings(home=home), base, scratch)
        print(f"stored vectors: {stored}")
        ready.touch()
    return home


class Server:
    """`kb serve` (or `command`, given the port as its last argument) on a free port."""

    def __init__(self, home: Path, env: dict[str, str], command: list[str] | None = None) -> None:
        self.port = free_port()
        command = command or [sys.executable, "-m", "kb", "serve", "--port"]
        self.process = subprocess.Popen(
            [*command, str(self.port)],
            env={**os.environ, "KB_HOME": str(home), "KB_PUBLIC_READ": "1", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.perf_counter() - started > 300:
                raise SystemExit(f"kb serve in {home} did not start")
            time.sleep(0.2)
        self.startup_seconds = time.perf_counter() - started

    def processes(self) -> list[int]:
        """The server's process and its workers' (with KB_WORKERS above 1)."""
        found = [self.process.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def cpu_seconds(self) -> float:
        """User and system CPU time the server's processes have used so far."""
        total = 0
        for pid in self.processes():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        """Peak resident memory (VmHWM) of the server's processes, added up."""
        total = 0
        for pid in self.processes():
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
        return total / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def one_client(url: str, queries: list[str], mode: str = "hybrid") -> list[float]:
    """Each query in turn on one kept-alive connection; the seconds each took.

    The standard library's HTTP client: the clients share the 2 cores with the server
    they measure, and httpx took about 1.1 ms of CPU per request against 0.2 to 0.3.
    """
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
    times = []
    try:
        for query in queries:
            path = "/api/search?" + urllib.parse.urlencode({"q": query, "mode": mode})
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            times.append(time.perf_counter() - started)
            if response.status != 200:
                raise SystemExit(f"GET {path} answered {response.status}: {body[:300]!r}")
    finally:
        connection.close()
    return times


def concurrent_clients(
    url: str, queries: list[str], clients: int, mode: str
) -> tuple[float, list[float]]:
    times: list[float] = []
    lock = threading.Lock()
    shares = [queries[number::clients] for number in range(clients)]

    def run(share: list[str]) -> None:
        mine = one_client(url, share, mode)
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(queries) / (time.perf_counter() - started), times


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000


def measure(
    home: Path, env: dict[str, str], pools: dict[str, list[list[str]]], clients: int
) -> dict[str, dict[str, float]]:
    """For each mode: one client (new queries, then the same again), then many clients,
    once per further query pool (`--repeat`): the median of those rounds, and each one."""
    server = Server(home, env)
    results: dict[str, dict[str, float]] = {}
    try:
        one_client(server.url, ["warm up", "pump", "vpn error 0x80070005"])
        for mode, (single, *together_pools) in pools.items():
            alone = one_client(server.url, single, mode)
            cached = one_client(server.url, single, mode)
            rounds = []
            for together_pool in together_pools:
                cpu_before, client_before = server.cpu_seconds(), time.process_time()
                rate, together = concurrent_clients(server.url, together_pool, clients, mode)
                cpu = (server.cpu_seconds() - cpu_before) / len(together_pool)
                client_cpu = (time.process_time() - client_before) / len(together_pool)
                rounds.append(
                    {
                        "rate": rate,
                        "c_p50": statistics.median(together) * 1000,
                        "c_p99": pct(together, 99),
                        "c_cpu_ms": cpu * 1000,
                        "client_cpu_ms": client_cpu * 1000,
                    }
                )
            results[mode] = {
                "p50": statistics.median(alone) * 1000,
                "p95": pct(alone, 95),
                "cached_p50": statistics.median(cached) * 1000,
                **{
                    key: statistics.median(one[key] for one in rounds)
                    for key in ("rate", "c_p50", "c_p99", "c_cpu_ms", "client_cpu_ms")
                },
                "rounds": rounds,  # type: ignore[dict-item]
            }
        results["process"] = {
            "startup": server.startup_seconds,
            "peak_rss": server.peak_rss_mib(),
        }
        return results
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=5_000, help="entries embedded for real")
    parser.add_argument("--requests", type=int, default=300, help="per measurement")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=0, help="KB_WORKERS of each kb serve (default: kb's)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of the many-clients measurement, each with new queries (median shown)",
    )
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/kb-bench"))
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument(
        "--ivf-threshold", type=int, default=None, help="KB_IVF_THRESHOLD (default: kb's)"
    )
    args = parser.parse_args()
    scratch = args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    models = Path(os.environ.get("KB_MODEL_CACHE_DIR", scratch / "models"))
    os.environ["KB_MODEL_CACHE_DIR"] = str(models)
    print(f"{machine()} · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · load {os.getloadavg()}")

    home = scale_home(scratch, args.size, args.base)
    database_url = Settings(home=home).resolved_database_url
    flat_home = scratch / f"scale-{args.size}-flat"
    flat_env = {"KB_DATABASE_URL": database_url, "KB_IVF_THRESHOLD": str(10**9)}
    ivf_env = {"KB_IVF_THRESHOLD": str(args.ivf_threshold)} if args.ivf_threshold else {}
    timings = {}
    for label, target, env in (("ivf", home, ivf_env), ("flat", flat_home, flat_env)):
        started = time.perf_counter()
        output = kb(target, "reindex", env_extra=env).strip()
        timings[label] = time.perf_counter() - started
        print(f"kb reindex ({label}): {output} [{timings[label]:.1f} s]")
    started = time.perf_counter()
    unchanged = kb(home, "reindex", env_extra=ivf_env).strip()
    print(f"kb reindex, nothing changed: {unchanged} [{time.perf_counter() - started:.2f} s]")
    print(kb(home, "status", env_extra=ivf_env))

    n, repeat = args.requests, args.repeat
    titles = [e.title for e in synthetic.entries((2 + 4 * repeat) * n + 400, seed=123)]
    pool = list(dict.fromkeys(synthetic.real_queries() + titles))
    # Every measurement its own queries: one client n per mode, then 2n per round of many.
    pools = {
        mode: [
            pool[number * n : (number + 1) * n],
            *(
                pool[(2 + 2 * (2 * round_ + number)) * n : (4 + 2 * (2 * round_ + number)) * n]
                for round_ in range(repeat)
            ),
        ]
        for number, mode in enumerate(("dense", "hybrid"))
    }
    results = {}
    serve_env = {"KB_WORKERS": str(args.workers)} if args.workers else {}
    for label, target, env in (("flat", flat_home, flat_env), ("ivf", home, ivf_env)):
        results[label] = measure(target, {**env, **serve_env}, pools, args.clients)
        print(label, results[label])
    demo_result = None
    if not args.skip_demo:
        demo = scratch / "demo-home"
        if not (demo / "kb.db").exists():
            kb(demo, "import", str(REPO / "corpus"))
        demo_result = measure(demo, serve_env, pools, args.clients)
        print("demo", demo_result)

    print()
    print(
        f"kb serve with {args.workers or default_workers()} worker process(es); "
        f"{args.clients} clients: median of "
        f"{args.repeat} round(s)"
    )
    print(
        f"| measure ({args.size:,} entries, GET /api/search) | IVF (kb) "
        "| exact flat (baseline) | ratio |"
    )
    print("|---|---|---|---|")
    for mode in ("dense", "hybrid"):
        ivf, flat = results["ivf"][mode], results["flat"][mode]
        for name, key, unit in (
            ("one client, p50", "p50", "ms"),
            ("one client, p95", "p95", "ms"),
            ("one client, repeated query (cache), p50", "cached_p50", "ms"),
            (f"{args.clients} clients, requests/s", "rate", ""),
            (f"{args.clients} clients, p50", "c_p50", "ms"),
            (f"{args.clients} clients, p99", "c_p99", "ms"),
            (f"{args.clients} clients, server CPU per request", "c_cpu_ms", "ms"),
            (f"{args.clients} clients, the clients' CPU per request", "client_cpu_ms", "ms"),
        ):
            print(
                f"| {mode}: {name} | {ivf[key]:.1f} {unit} | {flat[key]:.1f} {unit} "
                f"| {ivf[key] / flat[key]:.3f} |"
            )
    ivf, flat = results["ivf"]["process"], results["flat"]["process"]
    print(
        f"| `kb serve` peak RSS | {ivf['peak_rss']:.0f} MiB | {flat['peak_rss']:.0f} MiB "
        f"| {ivf['peak_rss'] / flat['peak_rss']:.3f} |"
    )
    print(
        f"| `kb serve` start to /healthz | {ivf['startup']:.1f} s | {flat['startup']:.1f} s "
        f"| {ivf['startup'] / flat['startup']:.3f} |"
    )
    print(
        f"| `kb reindex` from stored vectors | {timings['ivf']:.1f} s "
        f"| {timings['flat']:.1f} s | {timings['ivf'] / timings['flat']:.3f} |"
    )
    if demo_result:
        print(f"demo corpus `kb serve` peak RSS: {demo_result['process']['peak_rss']:.0f} MiB")
        for mode in ("dense", "hybrid"):
            demo = demo_result[mode]
            print(
                f"demo corpus, {mode}: one client p50 {demo['p50']:.1f} ms; {args.clients} "
                f"clients {demo['rate']:.1f} requests/s, p99 {demo['c_p99']:.1f} ms, "
                f"server CPU {demo['c_cpu_ms']:.1f} ms per request"
            )
    if args.repeat > 1:
        for label in ("ivf", "flat"):
            for mode in ("dense", "hybrid"):
                rounds = results[label][mode]["rounds"]
                print(
                    f"{label}, {mode}, {args.clients} clients, each round: "
                    + "; ".join(f"{r['rate']:.1f} req/s, p99 {r['c_p99']:.1f} ms" for r in rounds)
                )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
