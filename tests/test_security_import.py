"""Issue 22, import and export: the red team's attacks, kept as tests.

Ids that are not a plain file name or URL segment, tags the API refuses, roles changed by
a people.yaml, input nested deep enough to crash the parsers, and an export that writes
outside its folder.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, update

from kb.cli import main
from kb.database import Database
from kb.models import Entry, Person
from kb.settings import Settings
from tests.conftest import CORPUS, import_path, kb_env
from tests.test_import import write_jsonl

PROBLEM = {
    "id": "P-1",
    "kind": "problem",
    "title": "Pump P-12 cavitates at low level",
    "body": "Noise like gravel.",
    "author": "alice",
    "tags": ["pump"],
}
ARTICLE = {
    "id": "ART-1",
    "kind": "article",
    "title": "Cavitation at low tank level",
    "author": "alice",
    "sections": {"problem": "The pump cavitates.", "resolution": "Raise the level."},
    "sources": ["P-1"],
}


def kb(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=kb_env(settings.home))


def entry_count(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(Entry)) or 0


def roles_of(database: Database, handle: str) -> list[str]:
    with database.session() as session:
        person = session.scalar(select(Person).where(Person.handle == handle))
        assert person is not None
        return list(person.roles)


# -- 1. ids: one rule, and an export that stays in its folder ---------------------------


@pytest.mark.parametrize(
    "bad_id",
    ["../../escaped", "/tmp/x", "a/b", "a\\b", "a b", ".hidden", "-rf", "x" * 201, "Müller"],
)
def test_an_id_that_is_not_a_plain_file_name_is_refused_with_its_line(
    database: Database, settings: Settings, tmp_path: Path, bad_id: str
) -> None:
    source = write_jsonl(
        tmp_path / "in.jsonl", [PROBLEM, {**PROBLEM, "id": bad_id, "title": "Other"}]
    )
    result = kb(settings, "import", "--no-index", str(source))
    assert result.exit_code == 1, result.output
    assert f"{source}:2: `id`: an id is ASCII letters, digits and . _ -" in result.output
    assert entry_count(database) == 0  # all or nothing: P-1 was not written either


def test_ids_in_front_matter_and_references_follow_the_same_rule(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\nkind: problem\ntitle: T\nid: ../../escaped\nauthor: alice\n---\nText\n"
    )
    (folder / "b.md").write_text(
        "---\nid: S-1\nkind: solution\ntitle: T\nauthor: ../bob\nsolves: a/b\n---\nText\n"
    )
    (folder / "people.yaml").write_text("- id: carol/x\n  name: Carol\n")
    (folder / "organisation.yaml").write_text("communities:\n  - id: .ops\n    name: Ops\n")
    result = kb(settings, "import", "--no-index", str(folder))
    assert result.exit_code == 1, result.output
    for where in ("a.md:4: `id`", "b.md:5: `author`", "b.md:6: `solves`"):
        assert f"{folder / where}: an id is" in result.output
    assert f"{folder / 'people.yaml'}:1: `id`: an id is" in result.output
    assert f"{folder / 'organisation.yaml'}:2: `id`: an id is" in result.output
    # Every id of the demo corpus, and ids such as these, keep importing unchanged:
    good = [{**PROBLEM, "id": i} for i in ("MNT-P-001", "a.b_c-D9", "9", "x" * 200)]
    import_path(database, write_jsonl(tmp_path / "good.jsonl", good), settings)
    import_path(database, CORPUS, settings)
    assert entry_count(database) > 140


def _database_with_article(database: Database, settings: Settings, tmp_path: Path) -> None:
    import_path(database, write_jsonl(tmp_path / "in.jsonl", [PROBLEM, ARTICLE]), settings)


@pytest.mark.parametrize("bad_id", ["../../escaped", "ABSOLUTE"])
def test_export_refuses_an_article_whose_file_would_be_outside_the_folder(
    database: Database, settings: Settings, tmp_path: Path, bad_id: str
) -> None:
    # A database written before the id rule (or by hand) may hold such an id.
    _database_with_article(database, settings, tmp_path)
    target = tmp_path / "out" / "repertoire"
    if bad_id == "ABSOLUTE":
        bad_id = str(tmp_path / "absolute")
    escaped = (target / f"{bad_id}.md").resolve()
    with database.session() as session, session.begin():
        renamed = update(Entry).where(Entry.external_id == "ART-1").values(external_id=bad_id)
        session.execute(renamed)
    result = kb(settings, "export", "repertoire", str(target))
    assert result.exit_code == 1, result.output
    assert "export refused, nothing was written" in result.output
    assert repr(bad_id) in result.output
    assert not escaped.exists()
    assert list(target.iterdir()) == []


def test_export_does_not_write_through_a_symbolic_link_in_the_folder(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    _database_with_article(database, settings, tmp_path)
    target = tmp_path / "repertoire"
    target.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    (target / "ART-1.md").symlink_to(outside)
    result = kb(settings, "export", "repertoire", str(target))
    assert result.exit_code == 1, result.output
    assert "'ART-1'" in result.output and "outside" in result.output
    assert outside.read_text() == "keep me\n"


# -- 2. tags: the API's rule ------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [["<script>"], ["a/b"], ["ölpumpe"], ["x" * 41], [f"t{n}" for n in range(11)]],
)
def test_an_imported_tag_the_api_would_refuse_is_refused_with_its_line(
    database: Database, settings: Settings, tmp_path: Path, tags: list[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{**PROBLEM, "tags": tags}])
    result = kb(settings, "import", "--no-index", str(source))
    assert result.exit_code == 1, result.output
    assert f"{source}:1: `tags`: " in result.output
    assert entry_count(database) == 0


def test_imported_tags_are_tidied_as_the_api_tidies_them(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    tags = [" Machine Learning ", "C++", "machine-learning", "PUMP"]
    import_path(database, write_jsonl(tmp_path / "in.jsonl", [{**PROBLEM, "tags": tags}]), settings)
    with database.session() as session:
        entry = session.scalar(select(Entry).where(Entry.external_id == "P-1"))
        assert entry is not None and entry.tags == ["machine-learning", "c++", "pump"]


# -- 3. roles: an import does not quietly make anyone an admin --------------------------


def test_reimporting_people_keeps_their_roles_unless_told_and_says_so(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    people = tmp_path / "corpus" / "people.yaml"
    people.parent.mkdir()
    people.write_text("- id: alice\n  name: Alice\n  roles: [worker]\n")
    assert kb(settings, "import", "--no-index", str(people.parent)).exit_code == 0
    people.write_text("- id: alice\n  name: Alice A.\n  roles: [worker, admin]\n")

    result = kb(settings, "import", "--no-index", str(people.parent))
    assert result.exit_code == 0, result.output
    assert "alice: roles kept as [worker]; the file says [worker, admin]" in result.output
    assert "--update-roles" in result.output
    assert roles_of(database, "alice") == ["worker"]

    result = kb(settings, "import", "--no-index", "--update-roles", str(people.parent))
    assert result.exit_code == 0, result.output
    assert "alice: roles changed from [worker] to [worker, admin]" in result.output
    assert roles_of(database, "alice") == ["worker", "admin"]
    assert "--update-roles" in kb(settings, "import", "--help").output


def test_an_unknown_role_in_people_yaml_is_refused_with_its_line(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    people = tmp_path / "corpus" / "people.yaml"
    people.parent.mkdir()
    people.write_text("- id: alice\n  name: Alice\n- id: bob\n  name: Bob\n  roles: [root]\n")
    result = kb(settings, "import", "--no-index", str(people.parent))
    assert result.exit_code == 1, result.output
    assert f"{people}:5: `roles`: " in result.output
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 0


# -- 4. deep nesting: a per-line error, not a RecursionError -----------------------------

DEEP = 100_000


def test_a_jsonl_line_nested_100000_deep_is_a_line_error_and_nothing_is_imported(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    deep = "[" * DEEP + "]" * DEEP
    source.write_text(json.dumps(PROBLEM) + "\n" + '{"id": "P-2", "tags": ' + deep + "}\n")
    result = kb(settings, "import", "--no-index", str(source))
    assert result.exit_code == 1 and not isinstance(result.exception, RecursionError)
    assert f"{source}:2: nested too deeply" in result.output
    assert entry_count(database) == 0


def test_deep_yaml_in_front_matter_and_people_is_a_line_error(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    flow = "[" * DEEP + "]" * DEEP
    (folder / "a.md").write_text(f"---\nid: A\nkind: problem\ntags: {flow}\n---\nText\n")
    block = "".join(" " * (level + 4) + "-\n" for level in range(1500))
    (folder / "people.yaml").write_text("- id: alice\n  name: Alice\n  roles:\n" + block)
    (folder / "b.md").write_text("---\nid: B\nkind: problem\ntitle: T\nauthor: bob\n---\n")
    result = kb(settings, "import", "--no-index", str(folder))
    assert result.exit_code == 1 and not isinstance(result.exception, RecursionError)
    assert f"{folder / 'a.md'}:4: nested too deeply" in result.output
    assert f"{folder / 'people.yaml'}:" in result.output
    assert result.output.count("nested too deeply") == 2
    assert entry_count(database) == 0


def test_yaml_aliases_that_expand_to_millions_of_values_are_refused(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    # Nine anchors of nine aliases each: under 1 kB of YAML, 9**7 strings once expanded.
    anchors = ["  - &a0 [x, x, x, x, x, x, x, x, x]"]
    anchors += [f"  - &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 7)]
    front = "\n".join(["id: A", "kind: problem", "title: T", "author: bob", "x:", *anchors])
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.md").write_text(f"---\n{front}\ntags: [*a6, *a6, *a6]\n---\nText\n")
    result = kb(settings, "import", "--no-index", str(folder))
    assert result.exit_code == 1, result.output
    assert "too many values" in result.output
    assert entry_count(database) == 0


@pytest.mark.parametrize("handle", ["josé", "a/b", ".hidden", "_x", "two words"])
def test_kb_user_add_follows_the_id_rule_of_imported_people(
    settings: Settings, database: Database, handle: str
) -> None:
    result = CliRunner().invoke(
        main,
        ["user", "add", handle, "--role", "worker"],
        env=kb_env(settings.home),
        input="long-enough-password\nlong-enough-password\n",
    )
    assert result.exit_code != 0 and "cannot be a user name" in result.output
    with database.session() as session:
        assert session.scalar(select(func.count(Person.id))) == 0
