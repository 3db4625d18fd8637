"""Ranking evaluation, as Elasticsearch's rank-eval: queries, judgements, metrics.

Relevance > 0 counts as relevant. A query with no relevant document in the
judgements scores 0 on every metric, as in the SemEval protocol.
"""

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kb.sources import ImportRejected, Location, Problem

Qrels = dict[str, dict[str, int]]  # query id -> document id -> relevance
Run = dict[str, list[str]]  # query id -> ranked document ids


@dataclass(frozen=True)
class EvalQuery:
    id: str
    text: str
    # When the question was asked, if the file says (`date`): expert finding
    # measures recency from it.
    date: datetime | None = None
    # The question's own tags, if the file says (`tags`): learned routing's tag features.
    tags: tuple[str, ...] = ()


def load_queries(path: Path) -> list[EvalQuery]:
    queries: list[EvalQuery] = []
    problems: list[Problem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            text = data.get("text") or "\n".join(
                part for part in (data.get("title"), data.get("body")) if part
            )
            date = _naive_utc(data["date"]) if data.get("date") else None
            tags = tuple(str(tag) for tag in data.get("tags") or ())
            queries.append(EvalQuery(str(data["id"]), str(text), date, tags))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError, ValueError) as error:
            problems.append(Problem(Location(path, number), f"not a query {{id, text}}: {error}"))
    if problems:
        raise ImportRejected(problems)
    return queries


def _naive_utc(text: str) -> datetime:
    """A date-time as the database stores them: UTC without a time zone."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def load_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    problems: list[Problem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        # TREC qrels have four columns (query, iteration, doc, relevance); ours three.
        if len(parts) == 4:
            parts = [parts[0], parts[2], parts[3]]
        try:
            query_id, doc_id, relevance = parts
            qrels.setdefault(query_id, {})[doc_id] = int(relevance)
        except ValueError:
            problems.append(
                Problem(Location(path, number), "expected query_id<TAB>doc_id<TAB>relevance")
            )
    if problems:
        raise ImportRejected(problems)
    return qrels


def load_candidates(path: Path) -> dict[str, list[str]]:
    candidates: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            query_id, doc_id, *_ = line.split("\t")
            candidates.setdefault(query_id, []).append(doc_id)
    return candidates


def restrict_to_candidates(ranking: list[str], candidates: list[str]) -> list[str]:
    """Re-rank protocol: the ranking within the candidates, then the unranked ones."""
    allowed = set(candidates)
    ranked = [doc for doc in ranking if doc in allowed]
    seen = set(ranked)
    return ranked + [doc for doc in candidates if doc not in seen]


def average_precision(ranking: list[str], relevant: set[str]) -> float:
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc in enumerate(ranking, start=1):
        if doc in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


def reciprocal_rank(ranking: list[str], relevant: set[str]) -> float:
    for rank, doc in enumerate(ranking, start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg(ranking: list[str], judgements: dict[str, int], k: int = 10) -> float:
    gains = [max(judgements.get(doc, 0), 0) for doc in ranking[:k]]
    dcg = sum((2**gain - 1) / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))
    ideal = sorted((g for g in judgements.values() if g > 0), reverse=True)[:k]
    idcg = sum((2**gain - 1) / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def precision_at(ranking: list[str], relevant: set[str], k: int) -> float:
    return sum(1 for doc in ranking[:k] if doc in relevant) / k


def recall_at(ranking: list[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return sum(1 for doc in ranking[:k] if doc in relevant) / len(relevant)


def hit_at(ranking: list[str], relevant: set[str], k: int) -> float:
    return 1.0 if any(doc in relevant for doc in ranking[:k]) else 0.0


RETRIEVAL_METRICS = ("MAP", "MRR", "nDCG@10", "P@1", "Recall@10")


def evaluate(run: Run, qrels: Qrels, query_ids: Iterable[str]) -> dict[str, float]:
    """Mean of each metric over the given queries."""
    ids = list(query_ids)
    totals = dict.fromkeys(RETRIEVAL_METRICS, 0.0)
    for query_id in ids:
        judgements = qrels.get(query_id, {})
        relevant = {doc for doc, relevance in judgements.items() if relevance > 0}
        ranking = run.get(query_id, [])
        totals["MAP"] += average_precision(ranking, relevant)
        totals["MRR"] += reciprocal_rank(ranking, relevant)
        totals["nDCG@10"] += ndcg(ranking, judgements, 10)
        totals["P@1"] += precision_at(ranking, relevant, 1)
        totals["Recall@10"] += recall_at(ranking, relevant, 10)
    return {name: (value / len(ids) if ids else 0.0) for name, value in totals.items()}


EXPERT_METRICS = ("MRR", "P@1", "Hit@5", "nDCG@10")


def evaluate_experts(run: Run, qrels: Qrels, query_ids: Iterable[str]) -> dict[str, float]:
    """Mean of each expert-finding metric over the given queries.

    As in the Stack Exchange routing reference figures: MRR looks for the people
    with the query's highest grade (the accepted answerer), P@1 and Hit@5 for any
    relevant person (anyone who answered), nDCG@10 uses the grades.
    """
    ids = list(query_ids)
    totals = dict.fromkeys(EXPERT_METRICS, 0.0)
    for query_id in ids:
        judgements = qrels.get(query_id, {})
        relevant = {person for person, grade in judgements.items() if grade > 0}
        top_grade = max(judgements.values(), default=0)
        best = {person for person in relevant if judgements[person] == top_grade}
        ranking = run.get(query_id, [])
        totals["MRR"] += reciprocal_rank(ranking, best)
        totals["P@1"] += precision_at(ranking, relevant, 1)
        totals["Hit@5"] += hit_at(ranking, relevant, 5)
        totals["nDCG@10"] += ndcg(ranking, judgements, 10)
    return {name: (value / len(ids) if ids else 0.0) for name, value in totals.items()}


def per_query_reciprocal_ranks(run: Run, qrels: Qrels, query_ids: Iterable[str]) -> list[float]:
    """Each query's reciprocal rank of its best-graded person (for bootstrap intervals)."""
    ranks = []
    for query_id in query_ids:
        judgements = qrels.get(query_id, {})
        top_grade = max(judgements.values(), default=0)
        best = {p for p, grade in judgements.items() if grade > 0 and grade == top_grade}
        ranks.append(reciprocal_rank(run.get(query_id, []), best))
    return ranks


def bootstrap_difference(
    first: list[float], second: list[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of first - second over queries, with a 95% percentile bootstrap interval."""
    import random

    differences = [a - b for a, b in zip(first, second, strict=True)]
    if not differences:
        return 0.0, 0.0, 0.0
    generator = random.Random(seed)
    count = len(differences)
    means = sorted(
        sum(differences[generator.randrange(count)] for _ in range(count)) / count
        for _ in range(resamples)
    )
    return (
        sum(differences) / count,
        means[int(0.025 * resamples)],
        means[int(0.975 * resamples) - 1],
    )
