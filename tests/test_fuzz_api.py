"""Schemathesis against a real `kb serve` (issue 22): every operation in /openapi.json,
with valid and invalid requests, as an anonymous reader and as a knowledge manager with
an API token. No request may get a 5xx, and every response must match the schema the API
publishes. Each run has at least 1,000 cases; the seed is fixed so a failure reproduces
(bench/fuzz_api.py runs the same fuzzing with other seeds and sizes)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from kb.accounts import create_token
from kb.database import Database
from kb.models import Person
from kb.settings import Settings
from tests.web_helpers import running_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
MIN_CASES = 1000
SUMMARY = re.compile(r"(\d+) generated, (\d+) passed")
MANAGER_CONFIG = """
[parameters]
"path.external_id" = "MNT-P-001"
"path.collection_id" = 1
"path.handle" = "marta.kowalski"
"path.slug" = "maintenance"
# Not 1, the fuzzing token's own id: revoking it would leave the rest of the run at 401.
"path.token_id" = 999999
"""


def manager_token(settings: Settings) -> str:
    database = Database.from_settings(settings)
    with database.session() as session:
        grace = session.query(Person).filter_by(handle="grace.okafor").one()
        _token, plain = create_token(session, grace, label="fuzz")
        session.commit()
    database.dispose()
    return plain


def fuzz(base: str, seed: int, folder: Path, *headers: str, config: str = "") -> tuple[int, str]:
    """Runs schemathesis in `folder` (its cache goes there); returns the number of cases
    and its output."""
    (folder / "schemathesis.toml").write_text(config)
    arguments = [str(SCHEMATHESIS), "--config-file", str(folder / "schemathesis.toml")]
    arguments += ["run", f"{base}/openapi.json", "--checks", CHECKS]
    arguments += ["--max-examples", "6", "--seed", str(seed), "--no-color"]
    arguments += ["--phases", "examples,coverage,fuzzing", "--request-timeout", "30"]
    for header in headers:
        arguments += ["--header", header]
    result = subprocess.run(
        arguments, capture_output=True, text=True, timeout=600, env={**os.environ}, cwd=folder
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    match = SUMMARY.search(output)
    assert match, output[-3000:]
    generated, passed = int(match.group(1)), int(match.group(2))
    assert generated == passed, output[-6000:]
    return generated, output


def test_no_request_gets_a_server_error_or_breaks_the_schema(
    demo_people: Settings, tmp_path: Path
) -> None:
    token = manager_token(demo_people)
    with running_server(demo_people.home, KB_PUBLIC_READ="1") as base:
        # Anonymous: every id made up, as an outsider would.
        anonymous, _ = fuzz(base, 1, tmp_path)
        # The knowledge manager: the ids of real entries, so writes reach the code behind
        # the lookups (an open problem, a solved one, its accepted solution, an article).
        manager, _ = fuzz(
            base, 2, tmp_path, f"Authorization: Bearer {token}", config=MANAGER_CONFIG
        )
    print(f"schemathesis cases: anonymous {anonymous}, knowledge manager {manager}")
    assert anonymous >= MIN_CASES and manager >= MIN_CASES
