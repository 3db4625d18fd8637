"""The README is part of the product: its commands and settings table are checked."""

import re
from pathlib import Path

from click.testing import CliRunner

from kb import entry_schema
from kb.cli import main
from kb.settings import settings_reference
from kb.sign_in_throttle import SignInThrottle
from web.search_logging import SearchLogLimit
from web.security_headers import SECURITY_HEADERS

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def test_readme_has_the_two_commands_and_ci_runs_the_test_one() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[:2] == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    # The README's command, on SQLite and then again against PostgreSQL.
    assert [line for line in ci.splitlines() if line.startswith("make")] == ["make test"] * 2
    assert 'KB_TEST_DATABASE_URL="postgresql+psycopg://' in ci


def test_settings_table_is_generated_from_the_settings_object() -> None:
    table = README.split("<!-- settings-reference:start -->\n")[1].split("\n<!-- settings")[0]
    assert table == settings_reference()


def test_every_command_in_the_readme_exists() -> None:
    # "kb user add NAME" names a subcommand; "kb import PATH" does not (upper case).
    documented = set(re.findall(r"^\| `kb ([a-z]+(?: [a-z]+)?)", README, re.M))
    assert {"import", "user add", "token create"} <= documented
    for command in documented:
        result = CliRunner().invoke(main, [*command.split(), "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_security_md_states_the_headers_and_limits_the_code_applies() -> None:
    security = " ".join((REPO / "SECURITY.md").read_text().split())  # line breaks aside
    for name, value in SECURITY_HEADERS.items():
        assert f"`{name}`" in security, name
        for directive in value.split("; "):
            # The booklet's style hash changes with its style sheet; the doc names it.
            shown = directive.split(" 'sha256-")[0]
            assert shown in security, (name, shown)
    throttle = SignInThrottle()
    minutes = int(throttle.WINDOW.total_seconds() // 60)
    assert (
        f"After {throttle.MAX_FAILURES} failed sign-ins for one name from one address "
        f"within {minutes} minutes, or {throttle.MAX_ACCOUNT_FAILURES} for one name"
    ) in security
    assert (
        f"at most {SearchLogLimit.PER_VISITOR} new rows a minute per browser session and "
        f"{SearchLogLimit.PER_ADDRESS} per client address"
    ) in security


def test_architecture_md_states_the_entry_limits_the_code_applies() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text()
    assert f"| title | {entry_schema.MAX_TITLE_CHARS} characters |" in architecture
    assert f"| body | {entry_schema.MAX_BODY_CHARS:,} characters |" in architecture
    assert f"| comment | {entry_schema.MAX_COMMENT_CHARS:,} characters |" in architecture
    tags, tag_chars = entry_schema.MAX_TAGS, entry_schema.MAX_TAG_CHARS
    assert f"| tags | {tags} tags of at most {tag_chars} characters |" in architecture


def test_architecture_md_names_modules_that_exist() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:kb|indexer|search|web)/[\w/]+\.py)`", architecture))
    assert len(named) > 30
    assert sorted(path for path in named if not (REPO / path).is_file()) == []
