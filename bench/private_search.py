"""Search latency with permissions on (issue 18): 100k entries, a members-only community
holding 10% of them, searched as a non-member, as a member and with no permissions at all.

In one process, on one knowledge base, every query is searched three ways back to back,
in rotating order: with no visibility filter (the baseline: kb before members-only
communities), as a non-member (the private community's ids are left out inside the
candidate query) and as a member (who sees everything, so no filter is added). Working
out a viewer's visibility (one query on the communities table, done once per request)
is timed on its own. Ratios are permission / baseline, of the medians; the three ways ran
interleaved, so under the same load.

Usage: python bench/private_search.py [--size 100000] [--base 5000] [--queries 300]
       [--home DIR]   (a DIR from an earlier run is reused)
"""

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

MODES = ("hybrid", "dense", "keyword")
PRIVATE = "private-ten-percent"


def make_private(home: Path) -> tuple[int, int]:
    """Move every tenth entry into a members-only community; (its entries, all entries)."""
    from sqlalchemy import func, select, update

    from kb.database import Database
    from kb.models import Community, Entry
    from kb.settings import Settings

    database = Database.from_settings(Settings(home=home))
    with database.session() as session:
        community = session.scalar(select(Community).where(Community.slug == PRIVATE))
        if community is None:
            community = Community(slug=PRIVATE, name="Members only", private=True)
            session.add(community)
            session.flush()
            session.execute(
                update(Entry).where(Entry.id % 10 == 0).values(community_id=community.id)
            )
            session.commit()
        private = session.scalar(
            select(func.count()).select_from(Entry).where(Entry.community_id == community.id)
        )
        total = session.scalar(select(func.count()).select_from(Entry))
    database.dispose()
    return int(private or 0), int(total or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--base", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()

    import synthetic
    from common import machine
    from engine_latency import prepare

    scratch = tempfile.TemporaryDirectory()
    home = args.home or Path(scratch.name) / "kb-home"
    home.mkdir(parents=True, exist_ok=True)
    prepare(home, args.size, args.base)
    private, total = make_private(home)

    from indexer.embedder import embedder_for
    from kb.database import Database
    from kb.models import Person
    from kb.settings import Settings
    from kb.visibility import Visibility, visibility_for
    from search.engine import SearchEngine, SearchMode
    from search.filters import SearchFilters

    settings = Settings(home=home)
    database = Database.from_settings(settings)
    engine = SearchEngine.open(settings, database, embedder_for(settings, threads=1))
    with database.session() as session:
        outsider = Person(handle="bench.outsider", name="Outsider", communities=[])
        member = Person(handle="bench.member", name="Member", communities=[PRIVATE])
        hidden = visibility_for(session, outsider)
        shown = visibility_for(session, member)
        assert hidden.hidden_community_ids and shown == Visibility()
    ways = {
        "no permissions": SearchFilters(),
        "non-member": SearchFilters.seen_by(hidden),
        "member": SearchFilters.seen_by(shown),
    }
    queries = synthetic.real_queries()[: args.queries]
    for text in ("warm up the model", "and the keyword index", "and the database"):
        for filters in ways.values():
            engine.search(text, filters)
    gc.collect()
    gc.freeze()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load = os.getloadavg()[0]
    times: dict[tuple[str, str], list[float]] = {}
    leaked = 0
    names = list(ways)
    for mode in MODES:
        for number, query in enumerate(queries):
            # Each query once as a new text (embedded) per way: a distinct suffix per way.
            order = names[number % 3 :] + names[: number % 3]
            for name in order:
                text = f"{query} ({mode} {name})"
                began = time.perf_counter()
                results = engine.search(text, ways[name], mode=SearchMode(mode))
                times.setdefault((mode, name), []).append(time.perf_counter() - began)
                if name == "non-member":
                    leaked += sum(hit.community == PRIVATE for hit in results.hits)
    visibility_seconds = []
    with database.session() as session:
        for _ in range(2000):
            began = time.perf_counter()
            visibility_for(session, outsider)
            visibility_seconds.append(time.perf_counter() - began)
    engine.close()
    database.dispose()

    def ms(values: list[float], quantile: float) -> float:
        return sorted(values)[min(int(quantile * len(values)), len(values) - 1)] * 1000

    print(f"\nSearchEngine.search, {total:,} entries, {private:,} of them ({private / total:.0%})")
    print(f"in a members-only community; {len(queries)} distinct queries per mode and way")
    print(f"{started}, load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"machine: {machine()}")
    print(f"private hits shown to the non-member: {leaked}")
    print(
        f"{'mode':<8} {'way':<15} {'p50 ms':>7} {'p95 ms':>7} {'p50 ratio':>10} {'p95 ratio':>10}"
    )
    for mode in MODES:
        base = times[(mode, "no permissions")]
        for name in names:
            values = times[(mode, name)]
            p50, p95 = ms(values, 0.5), ms(values, 0.95)
            print(
                f"{mode:<8} {name:<15} {p50:>7.2f} {p95:>7.2f} "
                f"{p50 / ms(base, 0.5):>10.3f} {p95 / ms(base, 0.95):>10.3f}"
            )
    mean = statistics.mean(visibility_seconds) * 1000
    print(
        f"visibility_for (once per request): p50 {ms(visibility_seconds, 0.5):.3f} ms, "
        f"p95 {ms(visibility_seconds, 0.95):.3f} ms, mean {mean:.3f} ms"
    )
    scratch.cleanup()


if __name__ == "__main__":
    main()
