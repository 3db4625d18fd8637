"""Schemathesis against /openapi.json of a real `kb serve`: no request may cause a 5xx.

Usage: python bench/fuzz_api.py [--max-examples 20] [--seed 1]
(schemathesis comes with the dev extra; tests/test_fuzz_api.py runs a fixed-seed
version of this in every test run)

Starts `kb serve` on a private copy of the demo (a fresh `kb demo --no-serve` in a temp
folder), signs scripts in as the knowledge manager grace.okafor with an API token, runs
every operation with positive and negative (invalid) cases, bounded by --max-examples
per operation and phase, and prints how many cases ran and any failures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import kb, machine  # noqa: E402
from tests.web_helpers import running_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "kb-home"
        kb(home, "demo", "--no-serve")
        token = kb(home, "token", "create", "grace.okafor", "--label", "fuzz").strip()
        report = Path(folder) / "report.json"
        with running_server(home, KB_PUBLIC_READ="1") as base:
            started = time.perf_counter()
            result = subprocess.run(
                [
                    str(Path(sys.executable).with_name("schemathesis")),
                    "run",
                    f"{base}/openapi.json",
                    "--checks",
                    "not_a_server_error",
                    "--max-examples",
                    str(args.max_examples),
                    "--seed",
                    str(args.seed),
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--request-timeout",
                    "30",
                    "--report",
                    "ndjson",
                    "--report-ndjson-path",
                    str(report),
                    "--no-color",
                ],
                capture_output=True,
                text=True,
                env={**os.environ},
            )
            seconds = time.perf_counter() - started
        print(result.stdout[-4000:])
        if result.stderr.strip():
            print(result.stderr[-2000:])
        cases = 0
        for line in report.read_text().splitlines() if report.exists() else []:
            event = json.loads(line)
            for key in ("ScenarioFinished",):
                if key in event:
                    cases += 1
        print(
            f"{machine()}; schemathesis exit code {result.returncode}; "
            f"{seconds:.0f} s; scenarios recorded in the report: {cases}"
        )


if __name__ == "__main__":
    main()
