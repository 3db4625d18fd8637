"""Shared helpers for the benchmarks: where the evaluation data is, running kb."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL_DIR = Path(os.environ.get("KB_EVAL_DIR", REPO.parent / "shared" / "eval"))


def kb(home: Path, *args: str, env_extra: dict[str, str] | None = None) -> str:
    """Run the kb command with KB_HOME=home; return its standard output."""
    env = {**os.environ, "KB_HOME": str(home), **(env_extra or {})}
    result = subprocess.run(
        [sys.executable, "-m", "kb", *args], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"kb {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def kb_json(home: Path, *args: str, env_extra: dict[str, str] | None = None) -> dict:
    return json.loads(kb(home, *args, "--json", env_extra=env_extra))


def machine() -> str:
    return f"{platform.node()} · {os.cpu_count()} cores · {platform.python_version()}"
