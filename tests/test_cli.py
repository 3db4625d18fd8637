"""The kb command as a user runs it: help, import errors, search output."""

import json
from pathlib import Path

from click.testing import CliRunner

from kb.cli import main
from tests.conftest import use_home


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("import", "reindex", "search", "eval", "serve", "status", "demo"):
        assert command in result.output


def test_malformed_import_exits_nonzero_naming_file_and_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_home(monkeypatch, tmp_path / "home")
    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": "A", "kind": "problem", "title": "T", "author": "x"}\nnot json\n')
    result = CliRunner().invoke(main, ["import", str(source)])
    assert result.exit_code == 1
    assert f"{source}:2: invalid JSON" in result.output
    assert "nothing was written" in result.output


def test_search_json_and_text_output(demo_home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_home(monkeypatch, demo_home)
    result = CliRunner().invoke(main, ["search", "SK-4471", "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["hits"][0]["id"] == "MNT-S-002-1"
    result = CliRunner().invoke(main, ["search", "SK-4471", "--kind", "solution", "--limit", "1"])
    assert result.exit_code == 0 and "MNT-S-002-1" in result.output
    result = CliRunner().invoke(main, ["search", "   "])
    assert result.exit_code == 1 and "empty" in result.output


def test_status_reports_a_current_index(demo_home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_home(monkeypatch, demo_home)
    result = CliRunner().invoke(main, ["status", "--json"])
    status = json.loads(result.output)
    assert status["index_current"] is True and status["entries_to_embed"] == 0
