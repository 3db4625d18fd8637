"""Import: a good corpus, malformed files (file:line, nothing written) and re-import."""

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kb.database import Database
from kb.models import Community, Entry, Person
from kb.settings import Settings
from kb.sources import ImportRejected, read_source
from tests.conftest import CORPUS, import_path


def count(database: Database, model: type) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


PROBLEM = {
    "id": "P-1",
    "kind": "problem",
    "title": "Pump P-12 cavitates at low level",
    "body": "Noise like gravel.",
    "author": "alice",
    "tags": ["pump"],
    "community": "maintenance",
    "created_at": "2025-01-02T08:00:00",
}
SOLUTION = {
    "id": "S-1",
    "kind": "solution",
    "title": "Raise the minimum tank level",
    "body": "Set the low-level trip to 35 %.",
    "author": "bob",
    "solves": "P-1",
    "accepted": True,
}


def test_demo_corpus_imports_with_its_people_and_communities(
    database: Database, settings: Settings
) -> None:
    import_path(database, CORPUS, settings)
    with database.session() as session:
        entries = list(session.scalars(select(Entry)))
        kinds = {
            kind: sum(1 for e in entries if e.kind == kind)
            for kind in ("problem", "solution", "practice")
        }
        assert len(entries) >= 120
        assert kinds["problem"] > 0 and kinds["solution"] > 0 and kinds["practice"] > 0
        assert {e.status for e in entries if e.kind == "problem"} == {"open", "solved"}
        assert session.scalar(select(func.count(Person.id))) >= 20
        slugs = set(session.scalars(select(Community.slug)))
        assert {"maintenance", "it-support", "trainers", "projects"} <= slugs
        problem = session.scalar(select(Entry).where(Entry.external_id == "MNT-P-001"))
        assert problem is not None and problem.status == "solved"
        accepted = [s for s in problem.solutions if s.accepted]
        assert len(accepted) == 1 and accepted[0].author.handle == "marta.kowalski"


def test_jsonl_import_links_solutions_and_creates_unknown_people(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    records = [PROBLEM, SOLUTION, {**PROBLEM, "id": "P-2", "community": None, "title": "Other"}]
    import_path(database, write_jsonl(tmp_path / "in.jsonl", records), settings)
    with database.session() as session:
        problem = session.scalar(select(Entry).where(Entry.external_id == "P-1"))
        assert problem is not None and problem.status == "solved"
        solution = session.scalar(select(Entry).where(Entry.external_id == "S-1"))
        assert solution is not None and solution.solves_id == problem.id and solution.accepted
        assert {p.handle for p in session.scalars(select(Person))} == {"alice", "bob"}
        orphan = session.scalar(select(Entry).where(Entry.external_id == "P-2"))
        assert orphan is not None and orphan.community.slug == settings.default_community


def test_reimport_updates_entries_instead_of_duplicating(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [PROBLEM, SOLUTION])
    import_path(database, source, settings)
    changed = {**PROBLEM, "title": "Pump P-12 cavitates when the tank runs low"}
    unaccepted = {**SOLUTION, "accepted": False}
    import_path(database, write_jsonl(source, [changed, unaccepted]), settings)
    assert count(database, Entry) == 2
    with database.session() as session:
        problem = session.scalar(select(Entry).where(Entry.external_id == "P-1"))
        assert problem is not None
        assert problem.title == "Pump P-12 cavitates when the tank runs low"
        assert problem.status == "open"


def assert_rejected(path: Path, where: str, words: str) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        read_source(path)
    message = str(caught.value)
    assert where in message, message
    assert words in message, message
    return caught.value


def test_malformed_jsonl_line_is_reported_and_nothing_is_written(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "broken.jsonl"
    source.write_text(json.dumps(PROBLEM) + "\n" + json.dumps(SOLUTION) + '\n{"id": "X", "kind"\n')
    assert_rejected(source, f"{source}:3", "invalid JSON")
    with pytest.raises(ImportRejected):
        import_path(database, source, settings)
    assert count(database, Entry) == 0
    assert count(database, Person) == 0


def test_wrong_field_in_markdown_names_the_line_of_that_field(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.md").write_text(
        "---\nid: A\nkind: practice\ntitle: Fine\nauthor: x\n---\nBody\n"
    )
    (folder / "bad.md").write_text(
        "---\nid: B\ntitle: Broken\nkind: probelm\nauthor: x\n---\nBody\n"
    )
    rejected = assert_rejected(folder, f"{folder / 'bad.md'}:4", "`kind`")
    assert len(rejected.problems) == 1


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    source = tmp_path / "entry.md"
    source.write_text("---\nid: A\nkind: problem\ntitle: [unclosed\nauthor: x\n---\nBody\n")
    assert_rejected(source, f"{source}:", "invalid YAML")


def test_missing_title_and_unknown_solves_are_refused(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    no_title = {**PROBLEM}
    del no_title["title"]
    assert_rejected(write_jsonl(tmp_path / "a.jsonl", [no_title]), "a.jsonl:1", "`title`")
    dangling = write_jsonl(tmp_path / "b.jsonl", [PROBLEM, {**SOLUTION, "solves": "P-404"}])
    with pytest.raises(ImportRejected) as caught:
        import_path(database, dangling, settings)
    assert "b.jsonl:2" in str(caught.value) and "P-404" in str(caught.value)
    assert count(database, Entry) == 0


def test_binary_file_is_refused_with_its_line(tmp_path: Path) -> None:
    source = tmp_path / "blob.jsonl"
    source.write_bytes(json.dumps(PROBLEM).encode() + b"\n\xff\xfe\x00garbage\n")
    assert_rejected(source, f"{source}:2", "not UTF-8")


def test_duplicate_ids_in_one_import_are_refused(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "dup.jsonl", [PROBLEM, PROBLEM])
    assert_rejected(source, f"{source}:2", "used twice")


def test_a_failing_import_keeps_earlier_data_unchanged(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    import_path(database, write_jsonl(tmp_path / "first.jsonl", [PROBLEM]), settings)
    bad = write_jsonl(
        tmp_path / "second.jsonl",
        [{**PROBLEM, "title": "Changed"}, {**SOLUTION, "kind": "answer"}],
    )
    with pytest.raises(ImportRejected):
        import_path(database, bad, settings)
    with database.session() as session:
        titles = list(session.scalars(select(Entry.title)))
    assert titles == [PROBLEM["title"]]


def test_wrong_types_and_huge_lines_are_named_and_nothing_is_written(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(PROBLEM),
        json.dumps({**SOLUTION, "accepted": "maybe"}),
        json.dumps({**PROBLEM, "id": "P-2", "created_at": "last tuesday"}),
        json.dumps({**PROBLEM, "id": "P-3", "tags": {"not": "a list"}}),
        json.dumps({**PROBLEM, "id": "P-4", "body": "x" * 10_000_000}),
        json.dumps({**PROBLEM, "id": "P-5", "kind": "question"}),
        json.dumps([1, 2, 3]),
        json.dumps({**PROBLEM, "id": "P-6"})[:40],  # truncated
    ]
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRejected) as caught:
        import_path(database, source, settings)
    message = str(caught.value)
    for line in range(2, 9):
        assert f"{source}:{line}" in message, (line, message[:2000])
    assert f"{source}:1:" not in message
    assert "`accepted`" in message and "`created_at`" in message and "`kind`" in message
    assert count(database, Entry) == 0 and count(database, Person) == 0
