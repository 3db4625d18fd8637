"""The structure the code promises (docs/architecture.md): layers that point one way, no
import circles, and every write in kb/'s services, so that no route commits by itself."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    """pyproject.toml's [tool.importlinter] contracts: web > search > indexer > kb (the CLI
    in kb/cli assembles them all), and no circle between the modules of one layer,
    imports inside functions included."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_route_commits_by_itself() -> None:
    """Every write is one function in kb/ that owns its transaction (kb.writes.write);
    the pages and the API only call them."""
    committing = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "web").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\.(commit|rollback)\(", line)
    ]
    assert committing == []
