"""Expert finding on the demo corpus: the right person, the right reasons, load and
exclusion, the metrics of `kb eval --task experts`, the command and the API."""

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kb.cli import main
from search.engine import SearchEngine
from search.evaluation import evaluate_experts
from search.experts import ExpertScoring, Role, find_experts, gather_evidence, rank_experts
from tests.conftest import CORPUS, make_settings, use_home
from web.app import create_app

# A paraphrase of MNT-P-003 (Haas tool changer, alarm 113), as an apprentice might ask it.
TOOL_CHANGER_TROUBLE = (
    "The tool changer on the Haas in the apprentice workshop stops halfway with a shuttle "
    "alarm about every twentieth tool change"
)


def front_matter(entry_id: str) -> dict[str, str]:
    """The scalar fields of a demo-corpus entry, read from its file."""
    path = next(CORPUS.glob(f"*/{entry_id}.md"))
    header = path.read_text().split("---")[1]
    fields = {}
    for line in header.strip().splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def test_the_accepted_solver_of_a_paraphrased_case_comes_first_with_that_case_as_reason(
    demo_engine: SearchEngine,
) -> None:
    solution = front_matter("MNT-S-003-1")
    assert solution["solves"] == "MNT-P-003" and solution["accepted"] == "true"
    asker = front_matter("MNT-P-003")["author"]

    experts = find_experts(demo_engine, TOOL_CHANGER_TROUBLE, limit=5)

    assert experts[0].person == solution["author"]
    reason = experts[0].reasons[0]
    assert (reason.case_id, reason.entry_id, reason.role) == (
        "MNT-P-003",
        "MNT-S-003-1",
        Role.ACCEPTED_SOLUTION,
    )
    assert "alarm 113" in reason.title
    assert 0 < reason.similarity <= 1
    scores = [expert.score for expert in experts]
    assert scores == sorted(scores, reverse=True)
    # With the default weights asking gives no evidence: the asker is not suggested
    # on the strength of having asked.
    assert all(r.role != Role.ASKED for e in experts for r in e.reasons)
    assert asker != solution["author"]


def test_community_filter_keeps_evidence_inside_the_community(
    demo_engine: SearchEngine,
) -> None:
    experts = find_experts(demo_engine, TOOL_CHANGER_TROUBLE, community="it-support", limit=10)
    case_ids = {reason.case_id for expert in experts for reason in expert.reasons}
    assert case_ids and all(case_id.startswith("ITS-") for case_id in case_ids)


def test_a_busy_person_drops_below_the_next_one(demo_engine: SearchEngine) -> None:
    scoring = ExpertScoring()
    cases = gather_evidence(demo_engine, TOOL_CHANGER_TROUBLE, cases=scoring.cases)
    first, second = rank_experts(cases, scoring, limit=2)
    # Just enough open routed problems to divide the first score below the second.
    ratio = first.score / second.score
    busy = math.floor((ratio - 1) / scoring.load_penalty) + 1

    reranked = rank_experts(cases, scoring, limit=5, load={first.person: busy})

    assert reranked[0].person == second.person
    demoted = next(expert for expert in reranked if expert.person == first.person)
    assert demoted.open_routed == busy
    assert demoted.score == pytest.approx(first.score / (1 + scoring.load_penalty * busy))
    # One routed problem fewer is not enough: the order is unchanged.
    if busy > 1:
        lighter = rank_experts(cases, scoring, limit=1, load={first.person: busy - 1})
        assert lighter[0].person == first.person


def test_the_asker_and_unavailable_people_are_never_suggested(
    demo_engine: SearchEngine,
) -> None:
    everyone = find_experts(demo_engine, TOOL_CHANGER_TROUBLE, limit=50)
    asker, away = everyone[0].person, everyone[1].person
    # Even if asking counted as much as solving, the asker stays out.
    generous = ExpertScoring(asked_weight=1.0)
    experts = find_experts(
        demo_engine,
        TOOL_CHANGER_TROUBLE,
        limit=50,
        scoring=generous,
        exclude={asker},
        unavailable={away},
    )
    people = [expert.person for expert in experts]
    assert experts and asker not in people and away not in people


def test_recency_decay_favours_recent_evidence(demo_engine: SearchEngine) -> None:
    cases = gather_evidence(demo_engine, TOOL_CHANGER_TROUBLE, cases=30)
    timeless = rank_experts(cases, ExpertScoring(half_life_days=None), limit=50)
    decayed = rank_experts(cases, ExpertScoring(half_life_days=30.0), limit=50)
    # A person's decayed score is their undecayed one times decay factors that are <= 1.
    undecayed = {expert.person: expert.score for expert in timeless}
    assert {expert.person for expert in decayed} == set(undecayed)
    assert all(expert.score <= undecayed[expert.person] for expert in decayed)


def test_expert_metrics_on_a_hand_made_run() -> None:
    qrels = {
        "q1": {"ann": 2, "bob": 1},  # ann wrote the accepted answer
        "q2": {"cy": 2},
        "q3": {"dee": 2, "eve": 1},
    }
    run = {
        "q1": ["bob", "ann", "x"],  # any answerer first; the accepted one second
        "q2": ["x", "y", "z", "w", "v", "cy"],  # found at rank 6: no hit in the top 5
        "q3": [],  # nothing suggested
    }
    metrics = evaluate_experts(run, qrels, ["q1", "q2", "q3"])
    assert metrics["MRR"] == pytest.approx((1 / 2 + 1 / 6 + 0) / 3)
    assert metrics["P@1"] == pytest.approx(1 / 3)
    assert metrics["Hit@5"] == pytest.approx(1 / 3)
    # q1: DCG = 1 + 3/log2(3), ideal = 3 + 1/log2(3); q2: 1/log2(7) over 1.
    q1 = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    q2 = 1 / math.log2(7)
    assert metrics["nDCG@10"] == pytest.approx((q1 + q2) / 3)


def test_kb_eval_task_experts_on_the_demo_corpus(
    demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_home(monkeypatch, demo_home)
    solver = front_matter("MNT-S-003-1")["author"]
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"id": "q-tool", "text": TOOL_CHANGER_TROUBLE, "date": "2025-01-01T00:00:00Z"})
        + "\n"
        + json.dumps({"id": "q-cake", "text": "a recipe for chocolate cake"})
        + "\n"
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(f"q-tool\t{solver}\t2\nq-cake\tnobody.here\t2\n")
    run_out = tmp_path / "run.tsv"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--task",
            "experts",
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
    assert metrics["queries"] == 2 and metrics["task"] == "experts"
    # The solver is first for the tool-changer query; the cake query's person does not exist.
    assert metrics["MRR"] == pytest.approx(1 / 2)
    assert metrics["P@1"] == pytest.approx(1 / 2)
    lines = [line.split("\t") for line in run_out.read_text().splitlines()]
    assert lines[0][:3] == ["q-tool", solver, "1"]
    assert all(len(line) == 4 for line in lines)
    assert sum(1 for line in lines if line[0] == "q-tool") <= 5


def test_kb_eval_task_experts_refuses_retrieval_only_options(tmp_path: Path) -> None:
    queries, qrels = tmp_path / "q.jsonl", tmp_path / "r.tsv"
    queries.write_text('{"id": "q", "text": "x"}\n')
    qrels.write_text("q\tsomeone\t1\n")
    args = ["eval", "--task", "experts", "--queries", str(queries), "--qrels", str(qrels)]
    result = CliRunner().invoke(main, [*args, "--mode", "dense"])
    assert result.exit_code == 2 and "retrieval only" in result.output


def test_kb_experts_help_and_json(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_home(monkeypatch, demo_home)
    help_result = CliRunner().invoke(main, ["experts", "--help"])
    assert help_result.exit_code == 0
    assert "--community" in help_result.output and "--json" in help_result.output

    result = CliRunner().invoke(main, ["experts", TOOL_CHANGER_TROUBLE, "--limit", "3", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert len(body["experts"]) == 3
    top = body["experts"][0]
    assert top["id"] == front_matter("MNT-S-003-1")["author"]
    assert top["reasons"][0]["case_id"] == "MNT-P-003"
    assert top["reasons"][0]["role"] == "accepted solution"

    text = CliRunner().invoke(main, ["experts", TOOL_CHANGER_TROUBLE, "--limit", "1"])
    assert text.exit_code == 0 and "MNT-P-003" in text.output
    empty = CliRunner().invoke(main, ["experts", "  "])
    assert empty.exit_code == 1 and "empty" in empty.output


@pytest.fixture(scope="module")
def client(demo_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(demo_home))) as client:
        yield client


def test_api_experts(client: TestClient) -> None:
    response = client.get("/api/experts", params={"q": TOOL_CHANGER_TROUBLE, "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert len(body["experts"]) == 2
    top = body["experts"][0]
    assert top["id"] == front_matter("MNT-S-003-1")["author"]
    assert top["url"] == f"/people/{top['id']}"
    reason = top["reasons"][0]
    assert reason["case_id"] == "MNT-P-003" and reason["url"] == "/entries/MNT-P-003"

    filtered = client.get(
        "/api/experts", params={"q": TOOL_CHANGER_TROUBLE, "community": "trainers"}
    ).json()
    assert all(
        reason["case_id"].startswith("TRN-")
        for expert in filtered["experts"]
        for reason in expert["reasons"]
    )


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [({"q": "  "}, 400, "empty"), ({}, 422, "q"), ({"q": "pump", "limit": 0}, 422, "limit")],
)
def test_api_experts_bad_requests(
    client: TestClient, params: dict[str, object], status: int, words: str
) -> None:
    response = client.get("/api/experts", params=params)
    assert response.status_code == status and words in response.json()["error"]["message"]
