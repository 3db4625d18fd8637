"""Ranking metrics on hand-made judgements with answers worked out by hand, and `kb eval`."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import main
from search.evaluation import (
    average_precision,
    evaluate,
    ndcg,
    reciprocal_rank,
    restrict_to_candidates,
)
from tests.conftest import use_home


def test_metrics_match_hand_computed_values() -> None:
    ranking = ["a", "b", "c", "d"]
    relevant = {"b", "d", "z"}  # z is never retrieved
    # AP = (1/2 + 2/4) / 3
    assert average_precision(ranking, relevant) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranking, relevant) == pytest.approx(0.5)
    # DCG = 1/log2(3) + 3/log2(5); ideal = 3/log2(2) + 1/log2(3) + 1/log2(4)
    judgements = {"b": 1, "d": 2, "z": 1, "a": 0}
    dcg = 1 / 1.5849625 + 3 / 2.3219281
    ideal = 3 / 1 + 1 / 1.5849625 + 1 / 2
    assert ndcg(ranking, judgements) == pytest.approx(dcg / ideal, rel=1e-6)


def test_evaluate_averages_over_queries_and_counts_unjudged_as_zero() -> None:
    run = {"q1": ["a", "b"], "q2": ["x", "y"], "q3": ["m"]}
    qrels = {"q1": {"a": 1}, "q2": {"y": 2, "x": 0}, "q3": {"m": 0}}
    metrics = evaluate(run, qrels, ["q1", "q2", "q3"])
    assert metrics["MAP"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["MRR"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert metrics["P@1"] == pytest.approx(1 / 3)
    assert metrics["Recall@10"] == pytest.approx(2 / 3)


def test_restricting_to_candidates_keeps_order_and_appends_the_rest() -> None:
    assert restrict_to_candidates(["x", "c", "a"], ["a", "b", "c"]) == ["c", "a", "b"]


def test_kb_eval_on_the_demo_corpus(demo_home: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_home(monkeypatch, demo_home)
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"id": "q-seal", "text": "seal kit SK-4471"})
        + "\n"
        + json.dumps({"id": "q-vpn", "text": "GlobalProtect error 0x80070005"})
        + "\n"
        + json.dumps({"id": "q-none", "text": "chocolate cake recipe"})
        + "\n"
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "q-seal\tMNT-S-002-1\t2\n"
        "q-vpn\tITS-P-001\t2\nq-vpn\tITS-S-001-1\t1\nq-vpn\tITS-S-001-2\t1\n"
        "q-none\tMNT-P-001\t0\n"
    )
    run_out = tmp_path / "run.tsv"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--queries",
            str(queries),
            "--qrels",
            str(qrels),
            "--limit",
            "5",
            "--run-out",
            str(run_out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["queries"] == 3
    # Both answerable queries find a relevant entry first; the unanswerable one scores 0.
    assert metrics["P@1"] == pytest.approx(2 / 3)
    assert metrics["MRR"] == pytest.approx(2 / 3)
    lines = [line.split("\t") for line in run_out.read_text().splitlines()]
    per_query = {qid: sum(1 for line in lines if line[0] == qid) for qid in ("q-seal", "q-vpn")}
    # The run holds the matches, at most --limit: the part-number query has only 3 above
    # the relevance floor (KB_MATCH_SHARE); before the floor it listed 5.
    assert per_query == {"q-seal": 3, "q-vpn": 5}
    # Nothing in the corpus is about cake: few or no hits clear the similarity floor.
    assert sum(1 for line in lines if line[0] == "q-none") < 5
    assert lines[0][:3] == ["q-seal", "MNT-S-002-1", "1"]
    assert all(len(line) == 4 and float(line[3]) > 0 for line in lines)
