"""`kb serve` as a real process on a free port."""

from pathlib import Path

import httpx

from tests.web_helpers import running_server


def test_kb_serve_answers_search_over_http(demo_home: Path) -> None:
    with running_server(demo_home, KB_PUBLIC_READ="1") as base:
        response = httpx.get(f"{base}/api/search", params={"q": "SK-4471", "limit": 1})
        assert response.status_code == 200
        assert response.json()["hits"][0]["id"] == "MNT-S-002-1"
        assert httpx.get(f"{base}/api/search", params={"q": ""}).status_code == 400
