"""The kb command for operators (issue 17, point 14): progress on a terminal and plain
lines otherwise, a no-change reindex that does not load the model, removing users and
roles, one count of entries, help text everywhere."""

import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.cli import main
from kb.database import Database
from kb.models import ApiToken, Entry, Person
from kb.settings import Settings
from tests.conftest import kb_env, use_home
from tests.web_helpers import DEMO_PASSWORD
from web.app import create_app

ENTRIES_LINE = re.compile(
    r"\d+ entries \(\d+ problems, \d+ solutions, \d+ practices, \d+ articles?\)"
)


def walk(command: click.Command, path: str = "kb") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


# -- help ------------------------------------------------------------------------------


def test_every_option_has_help_and_every_argument_is_explained() -> None:
    missing = []
    for path, command in walk(main):
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{path} {param.opts[0]}")
            if isinstance(param, click.Argument) and param.human_readable_name not in (
                command.help or ""
            ):
                missing.append(f"{path} {param.human_readable_name} (not in the help text)")
        if not command.help:
            missing.append(f"{path} (no help text)")
    assert not missing, "without help: " + ", ".join(missing)


def test_the_quick_start_says_reading_needs_a_user_or_public_read() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "kb user add" in result.output and "KB_PUBLIC_READ=1" in result.output


# -- reindex: progress, and a run with nothing to do -----------------------------------


def run_on_terminal(args: list[str], home: Path) -> str:
    """`python -m kb ARGS` with stdin, stdout and stderr on a pseudo-terminal of 120 columns."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", *args],
        env={**os.environ, **kb_env(home)},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side is closed: the command ended
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=300) == 0, output.decode(errors="replace")
    return output.decode(errors="replace")


def run_piped(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kb", *args],
        env={**os.environ, **kb_env(home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_reindex_shows_a_progress_bar_on_a_terminal_only(demo_copy: Settings) -> None:
    shown = run_on_terminal(["reindex", "--full"], demo_copy.home)
    steps = re.findall(r"embedding:\s+(\d+)%\|[^|]*\|\s*(\d+)/(\d+) \[[\d:]+<[\d:?]+", shown)
    assert len({done for _percent, done, _total in steps}) >= 3, shown  # it moves
    assert steps[-1][1] == steps[-1][2] == "143"
    assert "entries/s]" in shown  # the rate; the time left is after the "<"
    assert "kb: loading the embedding model" in shown
    assert "kb: building the search index" in shown
    assert "Indexed: 143 embedded" in shown

    piped = run_piped(["reindex", "--full"], demo_copy.home)
    assert "embedding:" not in piped.stderr and "\r" not in piped.stderr + piped.stdout
    assert "kb:" not in piped.stderr
    lines = piped.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Indexed: 143 embedded"), piped.stdout
    total = float(re.search(r"; ([\d.]+) s in all", lines[0]).group(1))  # type: ignore[union-attr]
    loaded = float(re.search(r"model loaded in ([\d.]+) s", lines[0]).group(1))  # type: ignore[union-attr]
    assert total > 0 and total >= loaded


def test_a_reindex_with_nothing_to_do_does_not_load_the_model(demo_copy: Settings) -> None:
    script = (
        "from kb.cli import main\n"
        "try:\n    main(['reindex'])\nexcept SystemExit:\n    pass\n"
        "from indexer.embedder import load_embedder\n"
        "print('models loaded:', load_embedder.cache_info().currsize)\n"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **kb_env(demo_copy.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert "The index is current: 143 entries" in result.stdout
    assert "nothing to embed, so the model was not loaded" in result.stdout
    assert "models loaded: 0" in result.stdout
    reported = float(re.search(r"\(([\d.]+) s\)", result.stdout).group(1))  # type: ignore[union-attr]
    assert reported <= wall


# -- one count -------------------------------------------------------------------------


def test_status_and_reindex_count_the_same_entries_articles_included(
    demo_copy: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kb.repertoire import promote_to_article

    database = Database.from_settings(demo_copy)
    with database.session() as session:
        manager = session.scalar(select(Person).where(Person.handle == "david.chen"))
        source = session.scalar(select(Entry).where(Entry.external_id == "MNT-P-001"))
        assert manager is not None and source is not None
        promote_to_article(
            session,
            manager,
            title="Compressor trips on hot afternoons",
            sections={"problem": "The compressor trips.", "resolution": "Clean the cooler."},
            sources=[source],
        )
    database.dispose()
    use_home(monkeypatch, demo_copy.home)
    expected = "144 entries (60 problems, 59 solutions, 24 practices, 1 article)"
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code == 0, status.output
    assert ENTRIES_LINE.findall(status.output) == [expected], status.output
    reindexed = CliRunner().invoke(main, ["reindex"])
    assert reindexed.exit_code == 0, reindexed.output
    assert "1 embedded (1 passage), 143 unchanged" in reindexed.output
    assert ENTRIES_LINE.findall(reindexed.output) == [expected], reindexed.output
    again = CliRunner().invoke(main, ["reindex"])
    assert ENTRIES_LINE.findall(again.output) == [expected], again.output


# -- users and roles -------------------------------------------------------------------


def kb(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_roles_are_given_and_taken_away_and_the_last_admin_stays(
    demo_copy: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_home(monkeypatch, demo_copy.home)
    assert kb("user", "role", "leon.fischer", "--add", "tutor") == (
        0,
        "leon.fischer: tutor, worker.\n",
    )
    assert kb("user", "role", "leon.fischer", "--remove", "tutor") == (0, "leon.fischer: worker.\n")
    code, output = kb("user", "role", "leon.fischer", "--remove", "tutor")
    assert code == 0 and "nothing changed" in output
    code, output = kb("user", "role", "david.chen", "--remove", "admin")
    assert code == 1 and "only admin" in output
    code, output = kb("user", "role", "leon.fischer", "--remove", "wizard")
    assert code == 1 and "unknown role 'wizard'" in output
    code, output = kb("user", "role", "nobody.here", "--add", "tutor")
    assert code == 1 and "nobody is called 'nobody.here'" in output
    assert kb("user", "role", "leon.fischer", "--add", "admin")[0] == 0
    assert kb("user", "role", "david.chen", "--remove", "admin") == (0, "david.chen: worker.\n")


def test_a_removed_user_cannot_sign_in_and_their_entries_stay(
    demo_people: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_home(monkeypatch, demo_people.home)
    code, output = kb("token", "create", "leon.fischer")
    assert code == 0
    token = output.strip().splitlines()[-1]
    database = Database.from_settings(demo_people)
    with database.session() as session:
        written = sorted(
            session.scalars(
                select(Entry.external_id).join(Person).where(Person.handle == "leon.fischer")
            )
        )
    assert written

    code, output = kb("user", "remove", "leon.fischer")  # asks first
    assert code == 1 and "Aborted" in output
    code, output = kb("user", "remove", "leon.fischer", "--yes")
    assert code == 0, output
    assert "Removed leon.fischer" in output and "entries stay" in output
    code, output = kb("user", "remove", "david.chen", "--yes")
    assert code == 1 and "only admin" in output

    with database.session() as session:
        assert session.scalar(select(Person).where(Person.handle == "leon.fischer")) is None
        entries = list(session.scalars(select(Entry).where(Entry.external_id.in_(written))))
        assert len(entries) == len(written)
        assert {entry.author.name for entry in entries} == {"Removed person"}
        author = entries[0].author
        assert author.handle == f"removed-{author.id}" and author.roles == []
        assert author.password_hash is None and author.email is None and author.away
        tokens = session.scalars(select(ApiToken).where(ApiToken.person_id == author.id))
        assert all(t.revoked_at is not None for t in tokens)
    database.dispose()

    with TestClient(create_app(demo_people)) as client:
        from tests.web_helpers import csrf_from

        form = {
            "csrf_token": csrf_from(client.get("/signin").text),
            "handle": "leon.fischer",
            "password": DEMO_PASSWORD,
            "next": "/",
        }
        assert client.post("/signin", data=form, follow_redirects=False).status_code != 303
        assert (
            client.get("/api/me", headers={"authorization": f"Bearer {token}"}).status_code == 401
        )
        page = client.get(f"/entries/{written[0]}", headers={"accept": "text/html"}).text
        assert "Removed person" in page and "Leon Fischer" not in page

    code, output = kb(
        "user", "add", "leon.fischer", "--password-file", str(password_file(demo_people))
    )
    assert code == 0 and output.startswith("Created leon.fischer")  # the name is free again
    code, output = kb("user", "remove", "no.such.person", "--yes")
    assert code == 1 and "nobody is called" in output


def password_file(settings: Settings) -> Path:
    path = settings.home / "pw.txt"
    path.write_text("a new password\n")
    return path
