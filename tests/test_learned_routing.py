"""Learned routing on real knowledge bases (the demo corpus, small imported ones): no
feature sees the future, cold start, the stored model in a fresh process, exclusion
of the asker and of away and opted-out people, and the explanations in words."""

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from indexer.embedder import Embedder
from kb.cli import main
from kb.database import Database
from kb.models import Person
from kb.settings import Settings
from search.engine import SearchEngine
from search.expert_features import FEATURES, Candidate, ProblemQuery, build_pool, load_history
from search.expert_model import MIN_SOLVED_PROBLEMS, RoutingModel, explain, load_model
from search.learned_routing import routing_status, tune_routing
from search.routing import suggest_people
from tests.conftest import import_path, index, kb_env, make_settings, use_home

TOOL_CHANGER = (
    "The tool changer on the Haas stops halfway with a shuttle alarm about every "
    "twentieth tool change"
)
TAGS = ("tool-changer", "cnc")


def _engine(settings: Settings, embedder: Embedder) -> SearchEngine:
    return SearchEngine.open(settings, Database.from_settings(settings), embedder)


def _features(engine: SearchEngine, moment: datetime) -> dict[str, dict[str, float]]:
    with engine.database.session() as session:
        history = load_history(session)
    pool = build_pool(engine, history, ProblemQuery(TOOL_CHANGER, moment, TAGS))
    return {candidate.person: candidate.features for candidate in pool}


def test_a_planted_later_answer_is_never_seen(
    demo_copy: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    engine = _engine(demo_copy, embedder)
    with engine.database.session() as session:
        newest = max(load_history(session).post_dates)
    moment = newest + timedelta(days=1)
    before = _features(engine, moment)
    # Someone who never solved anything answers the tool-changer case ten days later.
    planted = tmp_path / "later.jsonl"
    record = {
        "id": "LATER-S-1",
        "kind": "solution",
        "title": "Tool changer shuttle alarm: clean and adjust the shuttle limit switch",
        "body": "The Haas shuttle stops halfway: the limit switch was loose. Adjusted it.",
        "author": "leon.fischer",
        "tags": list(TAGS),
        "created_at": (moment + timedelta(days=10)).isoformat(),
        "community": "maintenance",
        "solves": "MNT-P-003",
        "accepted": False,
    }
    planted.write_text(json.dumps(record) + "\n")
    import_path(engine.database, planted, demo_copy)
    index(engine.database, demo_copy, embedder)
    engine.database.dispose()
    engine = _engine(demo_copy, embedder)

    after = _features(engine, moment)
    assert set(after) == set(before)
    for person, features in before.items():
        for name in FEATURES:
            # BM25's word statistics (document frequencies) count every indexed entry,
            # later ones too: keyword scores move a little, never who answered what.
            close = (
                pytest.approx(features[name], rel=0.2, abs=0.01)
                if name.startswith("keyword")
                else (pytest.approx(features[name], abs=1e-9))
            )
            assert after[person][name] == close, (person, name)
    # The same answer is seen once its date has passed: the test can fail.
    later = _features(engine, moment + timedelta(days=11))
    assert later["leon.fischer"]["solved_all"] > before.get("leon.fischer", {}).get(
        "solved_all", 0.0
    )
    assert later["leon.fischer"]["tag_solved"] > 0
    engine.database.dispose()


def _small_kb(tmp_path: Path, embedder: Embedder, problems: int) -> Settings:
    """A knowledge base with `problems` solved problems, each answered by one of three
    people, and a person who declares tool-changer expertise but solved nothing."""
    settings = make_settings(tmp_path / "small-home")
    database = Database.from_settings(settings)
    database.create_schema()
    start = datetime(2025, 1, 1)
    people = ["ana", "ben", "chloe"]
    lines = []
    for n in range(problems):
        day = start + timedelta(days=n)
        lines.append(
            {
                "id": f"P-{n}",
                "kind": "problem",
                "title": f"Pump {n} leaks at the seal after a restart",
                "body": f"Pump number {n} leaks oil at the shaft seal.",
                "author": "asker",
                "tags": ["pumps"],
                "created_at": day.isoformat(),
            }
        )
        lines.append(
            {
                "id": f"S-{n}",
                "kind": "solution",
                "title": f"Replaced the seal of pump {n}",
                "body": "The shaft seal was worn; replaced it and checked the alignment.",
                "author": people[n % 3] if n % 4 else "ana",
                "tags": ["pumps"],
                "created_at": (day + timedelta(hours=5)).isoformat(),
                "solves": f"P-{n}",
                "accepted": True,
            }
        )
    source = tmp_path / "small.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    import_path(database, source, settings)
    index(database, settings, embedder)
    database.dispose()
    return settings


def test_cold_start_keeps_the_explained_formula_and_says_so(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _small_kb(tmp_path, embedder, problems=MIN_SOLVED_PROBLEMS - 1)
    engine = _engine(settings, embedder)
    with engine.database.session() as session:
        status = routing_status(settings.home, session)
        assert not status.learned and status.model is None
        assert "cold start" in status.reason and str(MIN_SOLVED_PROBLEMS) in status.reason
        experts = suggest_people(engine, session, "pump seal leaks after restart", limit=3)
    # The formula ranks, with its reasons: the cases, and in words.
    assert experts and experts[0].reasons
    assert any("like this one" in text for text in experts[0].explanations)
    engine.database.dispose()
    use_home(monkeypatch, settings.home)
    result = CliRunner().invoke(main, ["tune", "routing"])
    assert result.exit_code != 0 and "at least" in result.output
    assert not (settings.home / "routing-model.json").exists()
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0 and "cold start" in result.output


def kb_json(environment: dict[str, str], *arguments: str) -> Any:
    """`kb ARGUMENTS` in a process of its own; its JSON output."""
    done = subprocess.run(
        [sys.executable, "-m", "kb", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_stored_model_is_used_in_a_fresh_process(tmp_path: Path, embedder: Embedder) -> None:
    settings = _small_kb(tmp_path, embedder, problems=MIN_SOLVED_PROBLEMS + 10)
    environment = {**kb_env(settings.home), "HF_HUB_OFFLINE": "1"}
    summary = kb_json(environment, "tune", "routing", "--json")
    assert summary["trained_on"] > 0 and "MRR" in summary["figures"]
    stored = load_model(settings.home)
    assert stored is not None and stored.trained_at == summary["trained_at"]
    # Another process reads the file and ranks with it (the status says so).
    status = kb_json(environment, "status", "--json")
    assert status["routing"].startswith("learned model trained")
    people = kb_json(environment, "experts", "pump seal leaks", "--json")["experts"]
    assert people and all(person["explanations"] for person in people)
    assert "asker" not in {person["id"] for person in people}
    # A model file for other features is refused, and the formula ranks again.
    (settings.home / "routing-model.json").write_text(
        json.dumps({**json.loads((settings.home / "routing-model.json").read_text()), "version": 0})
    )
    assert load_model(settings.home) is None


def test_learned_suggestions_leave_out_the_asker_and_away_and_opted_out_people(
    tmp_path: Path, embedder: Embedder
) -> None:
    settings = _small_kb(tmp_path, embedder, problems=MIN_SOLVED_PROBLEMS + 10)
    engine = _engine(settings, embedder)
    with engine.database.session() as session:
        model = tune_routing(engine, session)
        model.save(settings.home)
        assert routing_status(settings.home, session).learned
        everyone = [e.person for e in suggest_people(engine, session, "pump seal", limit=10)]
        assert {"ana", "ben", "chloe"} <= set(everyone)
        ana = session.scalar(select(Person).where(Person.handle == "ana"))
        ben = session.scalar(select(Person).where(Person.handle == "ben"))
        assert ana is not None and ben is not None
        ben.away = True
        session.commit()
        chloe = session.scalar(select(Person).where(Person.handle == "chloe"))
        assert chloe is not None
        chloe.routing_opt_out = True
        session.commit()
        shown = suggest_people(engine, session, "pump seal", asker=ana, limit=10)
        handles = {expert.person for expert in shown}
        assert not handles & {"ana", "ben", "chloe"}
    engine.database.dispose()


def test_explanations_name_the_strongest_reasons_in_words() -> None:
    features = dict.fromkeys(FEATURES, 0.0)
    features.update(solved_30d=1.0, solved_90d=1.5, tag_solved=2.3, formula=1.0)
    candidate = Candidate(
        "ana", features, best_tag=("qiskit", 9, 12), solved_30d=4, declared=["qiskit"]
    )
    names = ["tag_solved", "solved_30d", "formula"]
    model = RoutingModel(weights=[2.0, 1.0, 0.5], means=[0.0] * 3, scales=[1.0] * 3, features=names)
    texts = explain(model, candidate)
    assert texts[0] == "solved 9 problems tagged `qiskit` in the last 90 days"
    assert "solved 4 problems in the last 30 days" in texts
    assert len(texts) <= 3
    # A negative part is never given as a reason.
    against = RoutingModel(
        weights=[-2.0, 1.0, 0.5], means=[0.0] * 3, scales=[1.0] * 3, features=names
    )
    assert not any("tagged" in text for text in explain(against, candidate))


def test_the_web_app_suggests_with_the_stored_model_on_the_demo(
    demo_copy: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    use_home(monkeypatch, demo_copy.home)
    tuned = CliRunner().invoke(main, ["tune", "routing"])
    assert tuned.exit_code == 0, tuned.output
    assert (demo_copy.home / "routing-model.json").exists()
    status = json.loads(CliRunner().invoke(main, ["status", "--json"]).output)
    assert status["routing"].startswith("learned model trained")
    with TestClient(create_app(demo_copy)) as client:
        # The Ask page's people (the API it calls) and an open problem's page.
        body = client.get("/api/experts", params={"q": TOOL_CHANGER, "limit": 3}).json()
        assert body["experts"] and all(expert["explanations"] for expert in body["experts"])
        page = client.get("/entries/MNT-P-016")
        assert page.status_code == 200
        assert 'class="why"' in page.text
