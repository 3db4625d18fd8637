"""Keyword search on its own: which words it matches (real SQLite or PostgreSQL)."""

import json
from pathlib import Path

import pytest
from sqlalchemy import event

from kb.database import Database
from kb.models import Entry
from kb.settings import Settings
from search.keyword import keyword_index_for
from tests.conftest import import_path

# "pump" is in all six entries, "leaking" in four, "seal" in two, "valve" in one.
ENTRIES = {
    "K-1": "Pump seal leaking after a restart",
    "K-2": "Pump seal worn on line two",
    "K-3": "Pump leaking at the inlet",
    "K-4": "Pump leaking near the valve",
    "K-5": "Pump leaking oil",
    "K-6": "Pump hums but does not start",
}


@pytest.fixture
def pumps(database: Database, settings: Settings, tmp_path: Path) -> Database:
    source = tmp_path / "pumps.jsonl"
    source.write_text(
        "".join(
            json.dumps(
                {"id": key, "kind": "practice", "title": title, "body": title, "author": "ann"}
            )
            + "\n"
            for key, title in ENTRIES.items()
        )
    )
    import_path(database, source, settings)
    return database


def found(database: Database, query: str, common_entries: int) -> set[str]:
    keyword = keyword_index_for(database, common_entries)
    with database.session() as session:
        ranked = keyword.search(session.connection(), query, limit=20)
        external = dict(session.query(Entry.id, Entry.external_id).all())
    return {external[entry_id] for entry_id, _score in ranked}


def test_every_word_counts_while_no_word_is_common(pumps: Database) -> None:
    assert found(pumps, "pump seal", common_entries=100) == set(ENTRIES)


def test_a_common_word_is_not_matched_on_its_own(pumps: Database) -> None:
    # "pump" is in more than 3 entries: only entries with "seal" or "valve" match.
    assert found(pumps, "pump seal", common_entries=3) == {"K-1", "K-2"}
    assert found(pumps, "pump valve seal", common_entries=3) == {"K-1", "K-2", "K-4"}


def test_a_query_of_common_words_only_needs_them_all(pumps: Database) -> None:
    assert found(pumps, "pump leaking", common_entries=3) == {"K-1", "K-3", "K-4", "K-5"}
    assert found(pumps, "pump", common_entries=3) == set(ENTRIES)


def test_the_best_matches_come_first(pumps: Database) -> None:
    keyword = keyword_index_for(pumps, 100)
    with pumps.session() as session:
        ranked = keyword.search(session.connection(), "seal restart", limit=2)
        external = dict(session.query(Entry.id, Entry.external_id).all())
    assert [external[entry_id] for entry_id, _ in ranked] == ["K-1", "K-2"]
    assert ranked[0][1] > ranked[1][1]


def test_word_counts_are_reused_until_they_are_old(
    pumps: Database, settings: Settings, tmp_path: Path
) -> None:
    keyword = keyword_index_for(pumps, common_entries=2)
    statements: list[str] = []
    event.listen(pumps.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def ids(query: str) -> set[int]:
        statements.clear()
        with pumps.session() as session:
            return {entry_id for entry_id, _ in keyword.search(session.connection(), query, 20)}

    assert len(ids("seal restart")) == 2  # "seal" (2 entries) and "restart" are uncommon
    counted = len(statements)
    ids("seal restart")
    assert len(statements) == counted - 1  # the same words: no counting statement

    # Two more entries with "seal" make it common, which a recount finds.
    more = tmp_path / "more.jsonl"
    more.write_text(
        "".join(
            json.dumps({"id": key, "kind": "practice", "title": t, "body": t, "author": "ann"})
            + "\n"
            for key, t in {"K-7": "Seal kit", "K-8": "Seal grease"}.items()
        )
    )
    import_path(pumps, more, settings)
    assert len(ids("seal restart")) == 4  # the old count: "seal" is matched on its own
    keyword.word_counts.max_age = 0
    assert len(ids("seal restart")) == 1  # "seal" is common now: only "restart" matches
