"""HTTP basics (issue 17, point 15): gzip, caching of static files, a favicon, and a 404
page that helps. Through the test client, and once through a real `kb serve`."""

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from kb.settings import Settings
from tests.conftest import make_settings
from tests.web_helpers import csrf_from, running_server, sign_in
from web.app import create_app

HTML = {"accept": "text/html"}
GZIP = {"accept-encoding": "gzip"}
STYLESHEET = re.compile(r'href="(?:http://testserver)?(/static/kb\.css\?v=([0-9a-f]+))"')


@pytest.fixture(scope="module")
def client(demo_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(demo_home))) as client:
        yield client


def test_text_responses_over_a_kilobyte_are_gzipped(client: TestClient) -> None:
    page = client.get("/search", params={"q": "compressor"}, headers={**HTML, **GZIP})
    api = client.get("/api/search", params={"q": "compressor"}, headers=GZIP)
    css = client.get("/static/kb.css", headers=GZIP)
    for response in (page, api, css):
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip", response.url
        assert "accept-encoding" in response.headers["vary"].lower()
    assert "compressor" in page.text and api.json()["hits"]  # decoded as sent
    small = client.get("/healthz", headers=GZIP)
    assert small.json() == {"status": "ok"} and "content-encoding" not in small.headers
    plain = client.get("/static/kb.css", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == css.text


def test_pages_link_static_files_by_version_and_those_are_kept_a_year(
    client: TestClient,
) -> None:
    from web.static_files import file_version

    page = client.get("/", headers=HTML).text
    link = STYLESHEET.search(page)
    assert link, "the stylesheet's URL carries no version"
    url, version = link.groups()
    css = Path(__file__).parents[1] / "web" / "static" / "kb.css"
    stat = css.stat()
    assert version == file_version(str(css), stat.st_mtime_ns, stat.st_size)
    versioned = client.get(url)
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_static_files_without_their_version_are_revalidated(client: TestClient) -> None:
    for url in ("/static/kb.css", "/static/kb.css?v=0123456789ab"):  # none, or an old one
        response = client.get(url)
        assert response.headers["cache-control"] == "no-cache", url
        again = client.get(url, headers={"if-none-match": response.headers["etag"]})
        assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"


def test_a_changed_file_gets_a_new_version(tmp_path: Path) -> None:
    from web.static_files import file_version

    file = tmp_path / "kb.css"
    file.write_text("body { color: black; }")
    before = file.stat()
    first = file_version(str(file), before.st_mtime_ns, before.st_size)
    file.write_text("body { color: navy; }  ")
    after = file.stat()
    assert file_version(str(file), after.st_mtime_ns, after.st_size) != first


def test_the_favicon_is_an_svg_at_the_usual_address_and_linked(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "max-age" in response.headers["cache-control"]
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    page = client.get("/", headers=HTML).text
    link = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)"', page)
    assert link and client.get(link.group(1)).content == response.content


def test_a_missing_page_says_what_and_offers_search_and_home(client: TestClient) -> None:
    response = client.get("/no/such-page", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "There is no page at /no/such-page." in page
    assert re.search(r'<form action="(http://testserver)?/search"[^>]*role="search"', page)
    assert 'name="q" value="such page"' in page
    assert re.search(r'href="(http://testserver)?/"', page)
    entry = client.get("/entries/NOPE-17", headers=HTML).text
    assert "No entry has the id &#39;NOPE-17&#39;." in entry
    assert 'name="q" value="NOPE-17"' in entry


def test_api_404s_stay_json(client: TestClient) -> None:
    for url in ("/api/entries/NOPE-1", "/api/no/such/thing"):
        response = client.get(url, headers=HTML)  # even when a browser asks
        assert response.status_code == 404
        assert response.json()["error"]["status"] == 404
    assert client.get("/no/such/page").json()["error"]["status"] == 404  # no Accept: html


def test_what_a_missing_page_offers_to_search_for() -> None:
    from web.errors import search_words

    assert search_words("/entries/MNT-S-002-1") == "MNT-S-002-1"
    assert search_words("/how-to_reset%20the-printer/") == "how to reset the printer"
    assert search_words("/") == ""


def test_the_csrf_token_differs_in_every_page_and_each_one_works(demo_people: Settings) -> None:
    """Gzipped pages must not repeat a secret byte for byte (BREACH)."""
    with TestClient(create_app(demo_people)) as client:
        sign_in(client, "leon.fischer")
        tokens = [csrf_from(client.get("/ask").text) for _ in range(3)]
        assert len(set(tokens)) == 3
        for token in tokens:  # an empty question: the CSRF check passes, the form comes back
            response = client.post("/ask", data={"csrf_token": token, "title": " ", "body": "x"})
            assert response.status_code == 422 and "expired" not in response.text
        forged = tokens[0][:-4] + ("AAAA" if not tokens[0].endswith("AAAA") else "BBBB")
        refused = client.post("/ask", data={"csrf_token": forged, "title": "T", "body": "x"})
        assert refused.status_code == 403


def test_a_real_server_gzips_and_serves_the_favicon(demo_home: Path) -> None:
    with running_server(demo_home, KB_PUBLIC_READ="1") as base:
        response = httpx.get(f"{base}/search", params={"q": "compressor"}, headers={**HTML, **GZIP})
        assert response.headers["content-encoding"] == "gzip"
        css = httpx.get(f"{base}/static/kb.css", headers=GZIP)
        assert css.headers["content-encoding"] == "gzip" and css.text.startswith(":root")
        assert httpx.get(f"{base}/favicon.ico").headers["content-type"].startswith("image/svg")
        assert "There is no page" in httpx.get(f"{base}/nope", headers=HTML).text
