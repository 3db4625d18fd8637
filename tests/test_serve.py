"""`kb serve` as a real process on a free port."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import kb_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kb_serve_answers_search_over_http(demo_home: Path) -> None:
    port = free_port()
    env = {**os.environ, **kb_env(demo_home), "KB_PUBLIC_READ": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kb", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "kb serve did not come up in 90 s"
            time.sleep(0.3)
        response = httpx.get(f"{base}/api/search", params={"q": "SK-4471", "limit": 1})
        assert response.status_code == 200
        assert response.json()["hits"][0]["id"] == "MNT-S-002-1"
        assert httpx.get(f"{base}/api/search", params={"q": ""}).status_code == 400
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()
