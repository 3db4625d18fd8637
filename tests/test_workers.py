"""Several server processes on one database: a write through one is found through another.

On PostgreSQL (KB_TEST_DATABASE_URL) the two servers have separate KB_HOME folders, so
nothing but the database is shared; on SQLite they share the database file.
"""

import socket
import time
from pathlib import Path

import httpx
import uvicorn
from click.testing import CliRunner

from kb.cli import listening_socket, main
from kb.settings import Settings
from tests.conftest import TEST_DATABASE_URL, kb_env
from tests.web_helpers import running_server

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
