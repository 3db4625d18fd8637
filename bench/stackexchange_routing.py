"""Expert finding on two Stack Exchange sites: who should answer a new question?

For each site (beer, matheducators) the questions posted before the cutoff are
imported as problems and their answers as solutions (`solves` = the answer's
question, `accepted` and `author` kept) into a fresh KB_HOME through `kb import`;
`kb tune routing` learns from that corpus side only (replaying its own questions in
time order); then `kb eval --task experts` ranks people for every later question with
the learned model, the formula, most-answers popularity and BM25 voting, in one run.

--tune also searches a small grid of scoring parameters, in process, on both
sites together (the data has no dev/test split, and a constant tuned on one
small site alone would overfit it), and reports each site with the parameters
tuned on the *other* site only, as an honest held-out figure.

Usage: python bench/stackexchange_routing.py [--sites beer matheducators] [--tune] [--keep DIR]
"""

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from common import EVAL_DIR, REPO, kb, kb_json, machine

SITES = ("beer", "matheducators")
# ../shared/eval/README.md: MRR on the accepted answerer, P@1 and Hit@5 on any answerer.
REFERENCE = {
    "beer": {
        "most-answers popularity": (0.043, 0.024, 0.049),
        "BM25 similar-question voting": (0.086, 0.061, 0.183),
    },
    "matheducators": {
        "most-answers popularity": (0.125, 0.026, 0.632),
        "BM25 similar-question voting": (0.098, 0.053, 0.500),
    },
}


def convert_corpus(source: Path, target: Path, site: str) -> int:
    """Stack Exchange posts as kb JSONL entries: questions are problems, answers solutions."""
    count = 0
    with source.open() as lines, target.open("w") as out:
        for line in lines:
            post = json.loads(line)
            is_answer = post["type"] == "answer"
            record = {
                "id": post["id"],
                "kind": "solution" if is_answer else "problem",
                "title": post["title"] or "(untitled)",
                "body": post.get("body") or "",
                # Posts of deleted accounts have no author.
                "author": post.get("author") or "deleted-user",
                "tags": post.get("tags") or [],
                "created_at": post["date"],
                "community": site,
            }
            if is_answer:
                record["solves"] = post["parent_id"]
                record["accepted"] = bool(post.get("accepted"))
            out.write(json.dumps(record) + "\n")
            count += 1
    return count


def evaluate_site(home: Path, data: Path) -> dict:
    return kb_json(
        home,
        "eval",
        "--task",
        "experts",
        "--queries",
        str(data / "queries.jsonl"),
        "--qrels",
        str(data / "qrels.tsv"),
        "--run-out",
        str(home / "experts-run.tsv"),
    )


# -- tuning ----------------------------------------------------------------------------

GRID = {
    "cases": [30, 50, 100],
    "solution_weight": [0.3, 0.6, 1.0],
    "asked_weight": [0.0, 0.1],
    "similarity_power": [0.0, 1.0, 2.0, 3.0, 4.0],
    "half_life_days": [None, 90.0, 365.0, 730.0],
}


def tune(homes: dict[str, Path]) -> None:
    """Grid search on both sites together; print the best joint and held-out figures."""
    sys.path.insert(0, str(REPO))
    from indexer.embedder import embedder_for
    from kb.database import Database
    from kb.settings import Settings
    from search.engine import SearchEngine
    from search.evaluation import evaluate_experts, load_qrels, load_queries
    from search.experts import ExpertScoring, gather_evidence, rank_experts

    base = ExpertScoring()
    deepest = max(GRID["cases"])
    evidence: dict[str, list] = {}
    judgements: dict[str, dict] = {}
    for site, home in homes.items():
        settings = Settings(home=home)
        database = Database.from_settings(settings)
        engine = SearchEngine.open(settings, database, embedder_for(settings))
        data = EVAL_DIR / "stackexchange-routing" / site
        queries = load_queries(data / "queries.jsonl")
        judgements[site] = load_qrels(data / "qrels.tsv")
        evidence[site] = [
            (query, gather_evidence(engine, query.text[: settings.max_query_chars], cases=deepest))
            for query in queries
        ]
        database.dispose()

    def measure(site: str, scoring: ExpertScoring) -> dict[str, float]:
        run = {
            query.id: [e.person for e in rank_experts(cases, scoring, limit=100, now=query.date)]
            for query, cases in evidence[site]
        }
        return evaluate_experts(run, judgements[site], [query.id for query, _ in evidence[site]])

    def objective(metrics: dict[str, float]) -> float:
        return (metrics["MRR"] + metrics["nDCG@10"]) / 2

    names = list(GRID)
    results = []
    for values in itertools.product(*(GRID[name] for name in names)):
        scoring = replace(base, **dict(zip(names, values, strict=True)))
        per_site = {site: measure(site, scoring) for site in homes}
        results.append((scoring, per_site))
    print(f"\ntuning: {len(results)} parameter sets; objective = mean of MRR and nDCG@10")
    print(f"defaults: {asdict(base)}")
    for site in homes:
        print(f"  defaults on {site}: {_row(measure(site, base))}")

    def best_on(sites: list[str]) -> tuple:
        return max(
            results, key=lambda item: sum(objective(item[1][site]) for site in sites) / len(sites)
        )

    joint, joint_figures = best_on(list(homes))
    print(f"best on both sites: {_changed(joint, base)}")
    for site in homes:
        print(f"  {site}: {_row(joint_figures[site])}")
    if len(homes) == 2:
        for site in homes:
            other = next(name for name in homes if name != site)
            scoring, _ = best_on([other])
            print(f"tuned on {other} only: {_changed(scoring, base)}")
            print(f"  held-out {site}: {_row(measure(site, scoring))}")


def _row(metrics: dict[str, float]) -> str:
    return "  ".join(f"{name} {metrics[name]:.4f}" for name in ("MRR", "P@1", "Hit@5", "nDCG@10"))


def _changed(scoring: object, base: object) -> dict:
    return {k: v for k, v in asdict(scoring).items() if asdict(base)[k] != v} or {"(same)": ""}  # type: ignore[call-overload]


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", nargs="+", choices=SITES, default=list(SITES))
    parser.add_argument("--tune", action="store_true", help="Also grid-search the parameters.")
    parser.add_argument("--keep", type=Path, help="Build the KB_HOMEs under DIR and keep them.")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        homes: dict[str, Path] = {}
        results: dict[str, dict] = {}
        for site in args.sites:
            data = EVAL_DIR / "stackexchange-routing" / site
            home = root / f"kb-home-{site}"
            homes[site] = home
            if not (home / "kb.db").exists():
                corpus = root / f"{site}-corpus.jsonl"
                posts = convert_corpus(data / "corpus.jsonl", corpus, site)
                import_started = time.perf_counter()
                kb(home, "import", str(corpus))
                print(
                    f"{site}: imported and indexed {posts} posts in "
                    f"{time.perf_counter() - import_started:.1f} s"
                )
            tune_started = time.perf_counter()
            tuned = kb_json(home, "tune", "routing")
            print(
                f"{site}: kb tune routing in {time.perf_counter() - tune_started:.1f} s, "
                f"{tuned['trained_on']} problems; on its own newest history {tuned['figures']}"
            )
            print(f"{site}: weights {tuned['weights']}")
            eval_started = time.perf_counter()
            results[site] = evaluate_site(home, data)
            results[site]["seconds"] = time.perf_counter() - eval_started
        print(f"\nStack Exchange expert finding; machine: {machine()}")
        print(f"{'site':<14} {'system':<32} {'MRR':>6} {'P@1':>6} {'Hit@5':>6} {'nDCG@10':>8}")
        for site, metrics in results.items():
            label = f"{site} ({metrics['queries']} q)"
            for method, figures in metrics["methods"].items():
                print(
                    f"{label:<14} {method:<32} {figures['MRR']:>6.3f} {figures['P@1']:>6.3f} "
                    f"{figures['Hit@5']:>6.3f} {figures['nDCG@10']:>8.3f}"
                )
                label = ""
            for name, (mrr, p1, hit5) in REFERENCE[site].items():
                print(f"{'':<14} {'ref: ' + name:<32} {mrr:>6.3f} {p1:>6.3f} {hit5:>6.3f}")
            for name, figures in metrics["mrr_differences"].items():
                print(
                    f"{'':<14} {name}: MRR {figures['MRR']:+.3f} "
                    f"(95% bootstrap {figures['low']:+.3f} to {figures['high']:+.3f})"
                )
            print(
                f"{'':<14} ceiling {metrics['ceiling']} of {metrics['queries']} queries; "
                f"pool recall {metrics['pool_recall']:.3f}; model {metrics['model']}"
            )
            print(f"{'':<14} eval took {metrics['seconds']:.1f} s")
        if args.tune:
            tune(homes)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
