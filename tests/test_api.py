"""The JSON API through the test client: search, health, and clear 4xx errors."""

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from web.app import create_app


@pytest.fixture(scope="module")
def client(demo_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(demo_home))) as client:
        yield client


def test_health(client: TestClient) -> None:
    # Anonymous callers (load balancers) learn that it is up, nothing more; the entry count
    # and index size are for managers (tests/test_security_http.py).
    assert client.get("/healthz").json() == {"status": "ok"}


def test_what_startup_built_is_left_out_of_full_garbage_collections(demo_home: Path) -> None:
    # A full collection walked every object startup made: 60 to 70 ms with every request
    # in the process waiting, every few hundred requests.
    gc.unfreeze()
    with TestClient(create_app(make_settings(demo_home))):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_search_returns_hits_with_ids_snippets_and_accepted_solution(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "0x80070005", "limit": 3})
    assert response.status_code == 200
    body = response.json()
    hit = next(h for h in body["hits"] if h["id"] == "ITS-P-001")
    assert hit["kind"] == "problem" and hit["status"] == "solved"
    assert hit["accepted_solution"]["id"].startswith("ITS-S-001")
    assert hit["snippet"]["highlights"]


def test_search_filters(client: TestClient) -> None:
    body = client.get("/api/search", params={"q": "checklist", "kind": "practice"}).json()
    assert body["hits"] and {h["kind"] for h in body["hits"]} == {"practice"}


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"q": ""}, 400, "empty"),
        ({"q": "x" * 1001}, 400, "limit is 1000"),
        ({}, 422, "q"),
        ({"q": "vpn", "limit": 0}, 422, "limit"),
        ({"q": "vpn", "kind": "recipe"}, 422, "kind"),
        ({"q": "vpn", "mode": "magic"}, 422, "mode"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_reason(
    client: TestClient, params: dict, status: int, words: str
) -> None:
    response = client.get("/api/search", params=params)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == status and words in error["message"]


def test_unknown_route_has_the_same_error_shape(client: TestClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["status"] == 404
