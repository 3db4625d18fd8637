"""Server-rendered pages and the draft-similarity API, through the test client."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from web.app import create_app

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def client(demo_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(demo_home))) as client:
        yield client


def test_home_shows_search_recent_problems_and_communities(client: TestClient) -> None:
    page = client.get("/").text
    assert 'name="q"' in page and "Recent problems" in page
    assert "Maintenance technicians" in page and "IT support" in page


def test_search_page_has_facets_badges_highlights_and_pages(client: TestClient) -> None:
    page = client.get("/search", params={"q": "compressor temperature"}).text
    assert "<mark>" in page and "badge-solved" in page
    assert "community" in page and "maintenance" in page
    assert "Page 1 of" in page
    filtered = client.get("/search", params={"q": "compressor", "kind": "practice"}).text
    assert "kind: practice" in filtered


def test_search_without_matches_offers_to_ask(client: TestClient) -> None:
    page = client.get("/search", params={"q": "zzqx qwfpgj"}).text
    assert "Nobody has written this down yet" in page
    assert "/ask?title=zzqx" in page


def test_entry_page_shows_solutions_accepted_first(client: TestClient) -> None:
    page = client.get("/entries/MNT-P-001").text
    assert page.index("MNT-S-001-2") < page.index("MNT-S-001-1")
    assert "✔ accepted" in page


def test_person_and_community_pages(client: TestClient) -> None:
    assert "Marta Kowalski" in client.get("/people/marta.kowalski").text
    assert "Members" in client.get("/communities/trainers").text


def test_unknown_pages_are_404_pages_not_errors(client: TestClient) -> None:
    response = client.get("/entries/NOPE-1", headers=HTML)
    assert response.status_code == 404 and "Not found" in response.text
    assert client.get("/api/entries/NOPE-1").json()["error"]["status"] == 404


def test_similar_cases_for_a_draft_come_with_their_solvers(client: TestClient) -> None:
    draft = {"title": "Lathe stops with a servo fault after an hour", "body": "after warm-up"}
    cases = client.post("/api/similar", json=draft).json()["cases"]
    first = {case["id"]: case for case in cases}
    assert {"MNT-P-001", "MNT-P-008"} & set(first)
    case = first.get("MNT-P-001") or first["MNT-P-008"]
    assert "marta.kowalski" in [p["handle"] for p in case["solved_by"]]


def test_script_tags_in_entries_render_inert(client: TestClient) -> None:
    from web.rendering import render_markdown

    html = render_markdown("<script>alert(1)</script> [x](javascript:alert(1))")
    assert "<script>" not in html and 'href="javascript:' not in html
