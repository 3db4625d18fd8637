"""Several server processes on one database: a write through one is found through another.
And `kb serve --workers 2`: both workers answer, without Nagle's delay; a worker that dies
is replaced; stopping kb serve stops its workers; a port already taken stops it at once.

On PostgreSQL (KB_TEST_DATABASE_URL) the two servers have separate KB_HOME folders, so
nothing but the database is shared; on SQLite they share the database file.
"""

import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from click.testing import CliRunner

from kb.cli import main
from kb.settings import Settings
from tests.conftest import TEST_DATABASE_URL, kb_env
from tests.web_helpers import running_server
from web.workers import listening_socket

FOUND_WITHIN_SECONDS = 10.0


def test_an_entry_captured_through_one_server_is_found_through_another(
    demo_copy: Settings, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main, ["token", "create", "leon.fischer"], env=kb_env(demo_copy.home)
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    first_home = demo_copy.home
    if TEST_DATABASE_URL:
        # Own folder (index files, secret key), the same database.
        second_home = tmp_path / "second-home"
        second_home.mkdir()
        database = {"KB_DATABASE_URL": kb_env(first_home)["KB_DATABASE_URL"]}
    else:
        second_home, database = first_home, {}
    title = "Glycol chiller 7 shows fault code QX-90210 at dawn"
    with (
        running_server(first_home, "--workers", "2") as first,
        running_server(second_home, **database) as second,
    ):
        auth = {"Authorization": f"Bearer {token}"}
        before = httpx.get(f"{second}/api/search", params={"q": "QX-90210"}, headers=auth).json()
        assert all(hit["title"] != title for hit in before["hits"])
        created = httpx.post(
            f"{first}/api/problems",
            json={
                "title": title,
                "body": "The display flashes QX-90210.",
                "community": "maintenance",
            },
            headers=auth,
            timeout=60,
        )
        assert created.status_code == 201, created.text
        started = time.monotonic()
        found = False
        while time.monotonic() - started < FOUND_WITHIN_SECONDS:
            for mode in ("dense", "keyword"):
                hits = httpx.get(
                    f"{second}/api/search",
                    params={"q": "glycol chiller fault QX-90210 at dawn", "mode": mode},
                    headers=auth,
                    timeout=30,
                ).json()["hits"]
                found = any(hit["id"] == created.json()["id"] for hit in hits)
                if not found:
                    break
            if found:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - started
        assert found, f"not found through the second server within {FOUND_WITHIN_SECONDS} s"
        print(f"found through the other server after {seconds:.2f} s")


def test_several_workers_accept_connections_without_nagles_delay() -> None:
    # Without TCP_NODELAY each keep-alive response on a several-worker server waited
    # about 40 ms for the client's delayed ACK (uvicorn issue 3149).
    config = uvicorn.Config("web.app:create_app", factory=True, workers=2, port=0)
    listener = listening_socket(config)
    try:
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _address = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()


def test_both_workers_answer_keep_alive_requests_without_nagles_delay(
    demo_copy: Settings,
) -> None:
    with running_server(demo_copy.home, "--workers", "2") as base:
        port = int(base.rsplit(":", 1)[1])
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        seconds = []
        try:
            for _ in range(20):
                started = time.perf_counter()
                client.request("GET", "/healthz")
                response = client.getresponse()
                assert response.status == 200 and response.read()
                seconds.append(time.perf_counter() - started)
        finally:
            client.close()
        # With Nagle's algorithm on, each response waited about 40 ms (2 ms without).
        assert statistics.median(seconds) < 0.025, seconds
        workers = serving_processes(port)
        assert len(workers) == 2, workers
    # Stopping kb serve (SIGTERM) stops its workers too.
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived kb serve"
        time.sleep(0.2)


def test_a_worker_that_dies_is_replaced(demo_copy: Settings) -> None:
    with running_server(demo_copy.home, "--workers", "2") as base:
        port = int(base.rsplit(":", 1)[1])
        workers = serving_processes(port)
        assert len(workers) == 2, workers
        killed = workers.pop()
        os.kill(killed, signal.SIGKILL)
        # uvicorn's supervisor looks every half second; the new worker then loads the app.
        # Meanwhile the survivor answers every connection.
        deadline = time.monotonic() + 60
        while True:
            now = serving_processes(port)
            if len(now) == 2 or time.monotonic() > deadline:
                break
        assert killed not in now and workers < now and len(now) == 2, (killed, workers, now)


def test_kb_serve_with_workers_stops_when_its_port_is_taken(demo_copy: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "kb", "serve", "--workers", "2", "--port", str(port)],
            env={**os.environ, **kb_env(demo_copy.home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "address already in use" in result.stderr.lower(), result.stderr


def serving_processes(port: int, tries: int = 20) -> set[int]:
    """The processes that answer keep-alive connections to `port`, eight opened together
    at a time, until two different ones have answered or `tries` batches have gone by.
    Workers that share a listening socket take whichever connections they wake up for
    first, so one batch may all go to one of them."""
    seen: set[int] = set()
    for _ in range(tries):
        clients = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(8)]
        try:
            for client in clients:
                client.connect()
            for client in clients:
                client.request("GET", "/healthz")
                response = client.getresponse()
                assert response.status == 200 and response.read()
            seen |= set(owners_of_connections_to(port).values())
        finally:
            for client in clients:
                client.close()
        if len(seen) >= 2:
            break
    return seen


def owners_of_connections_to(port: int) -> dict[int, int]:
    """Socket inode -> pid of the process holding it, for the established TCP connections
    whose local port is `port` (the server's side), read from /proc."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(int(fields[9]))
    owners = {}
    for descriptor in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            owners[int(target[8:-1])] = int(descriptor.parts[2])
    return owners
