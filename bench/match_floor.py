"""Choosing the relevance floor (what counts as a match) on SemEval-2016 3B.

Imports a split's candidate questions (dev: 500, train: 110) as problems into a fresh
KB_HOME, takes each query's full dense and keyword rankings over the whole corpus
once (no floor), then applies the floor of search/match_floor.py for each share of the
best score (KB_MATCH_SHARE) in a grid, with the dense floor KB_MIN_SIMILARITY as
shipped, and reports for each share:

- matches: entries above the floor per query, over the whole corpus (mean, median);
- recall: of the relevant candidates (relevance > 0), the share above the floor;
- own irrelevant kept: of the query's candidates judged irrelevant, the share above it;
- others: matches among the other queries' candidates (nearly all off-topic), per query;
- MAP, MRR and nDCG@10 under the re-rank protocol, as `kb eval --candidates` ranks: the
  fused ranking of the matches, then the rest of the 10 in the organisers' order; and
  "MAP, cut": the matches alone, a relevant candidate under the floor counted as missed.

Usage: python bench/match_floor.py [--split dev|train] [--home DIR]
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from common import EVAL_DIR, kb, machine
from semeval import convert_corpus
from sqlalchemy import select

from indexer.embedder import embedder_for
from kb.database import Database
from kb.models import Entry
from kb.settings import Settings
from search.engine import SearchEngine, SearchMode
from search.evaluation import (
    average_precision,
    load_candidates,
    load_qrels,
    load_queries,
    ndcg,
    reciprocal_rank,
    restrict_to_candidates,
)
from search.fusion import RankFusion
from search.match_floor import above, relative_floor

SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def rankings(home: Path, split: Path) -> tuple[list, dict, dict, Settings]:
    """Each query's (id, dense ranking, keyword ranking) by external id, without a floor."""
    settings = Settings(home=home, min_similarity=0.0, match_share=0.0)
    database = Database.from_settings(settings)
    engine = SearchEngine.open(settings, database, embedder_for(settings))
    with database.session() as session:
        external = {
            row.id: row.external_id for row in session.execute(select(Entry.id, Entry.external_id))
        }
    found = []
    for query in load_queries(split / "queries.jsonl"):
        text = query.text[: settings.max_query_chars]
        dense, _ = engine.dense_candidates(text, 1000)
        keyword = engine.keyword_candidates(text, 1000)
        found.append(
            (
                query.id,
                [(external[i], s) for i, s in dense],
                [(external[i], s) for i, s in keyword],
            )
        )
    engine.close()
    database.dispose()
    return (
        found,
        load_qrels(split / "qrels.tsv"),
        load_candidates(split / "candidates.tsv"),
        Settings(home=home),
    )


def measure(found: list, qrels: dict, candidates: dict, shipped: Settings, share: float) -> dict:
    fusion = RankFusion.from_settings(shipped)
    counts, recall_parts, irrelevant_parts, others = [], [0, 0], [0, 0], []
    maps, mrrs, ndcgs, cut_maps = [], [], [], []
    for query_id, dense, keyword in found:
        everyone = {doc for doc, _ in dense} | {doc for doc, _ in keyword}
        dense_kept = above(
            [(doc, s) for doc, s in dense if s >= shipped.min_similarity],
            relative_floor(dense, everyone, share),
        )
        keyword_kept = above(keyword, relative_floor(keyword, everyone, share))
        fused = fusion.fuse(dense_kept, keyword_kept, SearchMode.HYBRID)  # type: ignore[arg-type]
        matches = [doc for doc, _ in fused]
        counts.append(len(matches))
        own = candidates.get(query_id, [])
        judged = qrels.get(query_id, {})
        relevant = {doc for doc, grade in judged.items() if grade > 0}
        irrelevant = set(own) - relevant
        kept = set(matches)
        recall_parts[0] += len(relevant & kept)
        recall_parts[1] += len(relevant)
        irrelevant_parts[0] += len(irrelevant & kept)
        irrelevant_parts[1] += len(irrelevant)
        others.append(len(kept - set(own)))
        ranked = restrict_to_candidates(matches, own)
        maps.append(average_precision(ranked, relevant))
        mrrs.append(reciprocal_rank(ranked, relevant))
        ndcgs.append(ndcg(ranked, judged, 10))
        cut_maps.append(average_precision([doc for doc in matches if doc in set(own)], relevant))
    return {
        "share": share,
        "queries": len(found),
        "matches mean": statistics.mean(counts),
        "matches median": statistics.median(counts),
        "recall": recall_parts[0] / max(1, recall_parts[1]),
        "relevant": recall_parts[1],
        "own irrelevant kept": irrelevant_parts[0] / max(1, irrelevant_parts[1]),
        "others mean": statistics.mean(others),
        "MAP": statistics.mean(maps),
        "MRR": statistics.mean(mrrs),
        "nDCG@10": statistics.mean(ndcgs),
        "MAP, cut": statistics.mean(cut_maps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", choices=["dev", "train"], default="dev")
    parser.add_argument("--home", type=Path, help="An imported KB_HOME of the split to reuse.")
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON.")
    args = parser.parse_args()
    split = EVAL_DIR / f"semeval2016-{args.split}"
    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch) / "kb-home"
        if args.home is None or not (home / "kb.db").exists():
            corpus = Path(scratch) / "corpus.jsonl"
            convert_corpus(split / "corpus.jsonl", corpus)
            kb(home, "import", str(corpus))
        found, qrels, candidates, shipped = rankings(home, split)
        rows = [measure(found, qrels, candidates, shipped, share) for share in SHARES]
    pure = measure(
        found, qrels, candidates, shipped.model_copy(update={"min_similarity": 0.0}), 0.0
    )
    if args.json:
        print(json.dumps({"pure": pure, "rows": rows}, indent=2))
        return
    corpus_size = sum(1 for _ in (split / "corpus.jsonl").open())
    print(f"SemEval-2016 3B {args.split}: {len(found)} queries, {corpus_size} entries")
    print(f"machine: {machine()}; dense floor KB_MIN_SIMILARITY={shipped.min_similarity}")
    header = (
        "share",
        "matches mean",
        "matches median",
        "recall",
        "own irrelevant kept",
        "others mean",
        "MAP",
        "MRR",
        "nDCG@10",
        "MAP, cut",
    )
    print(" | ".join(header))
    for row in [{**pure, "share": "none"}, *rows]:
        print(
            " | ".join(
                f"{row[name]:.4f}" if isinstance(row[name], float) else str(row[name])
                for name in header
            )
        )


if __name__ == "__main__":
    main()
