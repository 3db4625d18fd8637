"""Security issue 22, the HTTP-level findings, each kept as the attack that found it:
no security headers (a signed-in page could be framed), Markdown that costs seconds of
CPU on every view, HEAD answered with a 405, a chunked oversize body answered with a 400
instead of a 413, and /healthz telling anyone the entry count and the model."""

import base64
import glob
import hashlib
import http.client
import json
import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt
from playwright.sync_api import Browser, Page, expect

from kb.accounts import create_token
from kb.database import Database
from kb.models import Person
from kb.settings import Settings
from tests.conftest import CORPUS, REPO, copy_home, make_settings
from tests.web_helpers import SignedIn, browser_sign_in, running_server
from web import charts
from web.app import create_app
from web.rendering import own_images_only, render_markdown

HTML = {"accept": "text/html"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
CSP_DIRECTIVES = [
    "default-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
]


@pytest.fixture(scope="module")
def client(demo_home: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(demo_home))) as client:
        yield client


@pytest.fixture(scope="module")
def server(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kb serve` on a private copy of the demo in which everyone can sign in."""
    home = tmp_path_factory.mktemp("security-http") / "kb-home"
    copy_home(demo_people_home, home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


def assert_security_headers(headers: Any, what: str) -> None:
    headers = httpx.Headers(headers)
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    policy = headers.get("content-security-policy", "")
    for directive in CSP_DIRECTIVES:
        assert directive in policy, (what, directive, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (what, policy)


# 1. Security headers


def test_every_kind_of_response_carries_the_security_headers(client: TestClient) -> None:
    responses = {
        "page": client.get("/", headers=HTML),
        "search page": client.get("/search", params={"q": "compressor"}, headers=HTML),
        "JSON API": client.get("/api/search", params={"q": "compressor"}),
        "static file": client.get("/static/kb.css"),
        "Swagger UI file": client.get("/static/docs/swagger-ui.css"),
        "404 page": client.get("/entries/NOPE-1", headers=HTML),
        "404 JSON": client.get("/api/entries/NOPE-1"),
        "404 route": client.get("/no/such/page"),
        "422": client.get("/api/search"),
        "413": client.post(
            "/api/problems",
            content=b"x" * 2_100_000,
            headers={"content-type": "application/json"},
        ),
        "/docs": client.get("/docs"),
        "/healthz": client.get("/healthz"),
    }
    assert responses["413"].status_code == 413 and responses["404 page"].status_code == 404
    for what, response in responses.items():
        assert_security_headers(response.headers, what)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)", re.IGNORECASE)
INLINE_ATTRIBUTE = re.compile(r"<[^>]*\s(style|on[a-z]+)\s*=", re.IGNORECASE)


def test_no_page_has_an_inline_script_style_or_event_handler(client: TestClient) -> None:
    # The CSP refuses them; the booklet's one <style> is allowed by its hash (below).
    pages = {
        path: client.get(path, headers=HTML).text
        for path in ["/", "/search?q=compressor", "/entries/MNT-P-001", "/repertoire", "/docs"]
    }
    pages |= {str(path): path.read_text() for path in (REPO / "web" / "templates").glob("*.html")}
    pages["charts"] = "".join(
        [
            charts.bar_chart("bars", ["w1", "w2"], {"asked": [1, 2], "solved": [0, 1]}),
            charts.line_chart("lines", ["w1", "w2"], {"rate": [0.5, None]}),
            charts.sparkline([1, 3, 2]),
        ]
    )
    for where, html in pages.items():
        assert not INLINE_SCRIPT.search(html), where
        assert not INLINE_ATTRIBUTE.search(html), (where, INLINE_ATTRIBUTE.search(html))
        if not where.endswith("booklet.html"):
            assert "<style" not in html, where


def test_the_booklets_inline_styles_are_allowed_by_their_hash(demo_people: Settings) -> None:
    # A booklet is a standalone file (saved, printed, mailed): its styles stay inside it.
    grace = SignedIn(create_app(demo_people), "grace.okafor")
    made = grace.post(
        "/api/collections",
        {"title": "Warm-up faults", "introduction": "Heat.", "entries": ["MNT-P-001"]},
    )
    assert made.status_code == 201, made.text
    booklet = grace.client.get(made.json()["booklet_html"])
    styles = re.findall(r"<style>(.*?)</style>", booklet.text, flags=re.DOTALL)
    assert len(styles) == 1
    digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in booklet.headers["content-security-policy"]
    assert_security_headers(booklet.headers, "booklet")


def test_the_413_of_the_real_server_carries_the_headers_too(server: str) -> None:
    status, headers, body = raw_request(server, "/api/problems", declared=10_000_000)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert_security_headers(headers, "413")


RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def signed_in_page(browser: Browser, base: str, handle: str) -> tuple[Page, list[str]]:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(f"{message.text} ({message.location['url']})")
            if message.type == "error" and not message.location["url"].endswith("/favicon.ico")
            else None
        ),
    )
    browser_sign_in(page, handle)
    return page, console


def test_the_pages_work_under_the_policy_in_chromium(server: str, browser: Browser) -> None:
    page, console = signed_in_page(browser, server, "grace.okafor")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    made = page.request.post(
        "/api/collections",
        data=json.dumps({"title": "Warm-up faults", "entries": ["MNT-P-001", "MNT-G-002"]}),
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
    )
    assert made.ok, made.text()
    collection = made.json()
    pages = [
        "/",
        "/search?q=compressor+trips+on+hot+days",
        "/entries/MNT-P-001",
        "/ask",
        "/repertoire",
        "/console",
        "/people/grace.okafor",
        f"/collections/{collection['id']}",
        collection["booklet_html"],
        "/docs",
    ]
    for path in pages:
        response = page.goto(path)
        assert response is not None and response.ok, path
        assert_security_headers(response.headers, path)
        page.wait_for_load_state("networkidle")
        if path == "/ask":  # ask.js runs: similar cases while typing
            page.locator("#ask-title").press_sequentially("compressor trips when hot", delay=10)
            expect(page.locator("#similar-results .case").first).to_be_visible(timeout=15_000)
        if path == "/docs":  # Swagger UI runs from swagger-init.js and lists the operations
            expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
            assert page.locator(".opblock").count() > 20
            assert page.locator(".opblock-summary-path", has_text="/api/search").count() >= 1
        if path == collection["booklet_html"]:  # its inline styles applied
            font = page.evaluate("getComputedStyle(document.body).fontFamily")
            assert "Georgia" in font, font
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], (path, violations)
    assert console == [], console


@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """Another origin (another port) serving one page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *_args: object) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_port}/"
    finally:
        site.shutdown()
        site.server_close()
        thread.join()


def test_another_site_cannot_frame_a_page(server: str, browser: Browser) -> None:
    # Clickjacking: another site shows an entry page in a (transparent) frame over its own
    # buttons, for the visitor to click Accept or Sign out without knowing.
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server}/entries/MNT-P-001")
    expect(page.locator("h1")).to_contain_text("SINUMERIK")  # the page itself shows
    with attacker_site(f'<iframe src="{server}/entries/MNT-P-001"></iframe>') as attacker:
        page.goto(attacker)  # waits for the frame's load too
        [victim] = page.main_frame.child_frames
        assert "SINUMERIK" not in victim.content(), victim.url
    context.close()


# 2. Render cost amplification

PATHOLOGICAL = {
    '"[" * 49000': "[" * 49_000,
    '"![" * 24500': "![" * 24_500,
    '"[<" * 24500': "[<" * 24_500,
    '"[`" * 24500': "[`" * 24_500,
    '"[a " * 16333': "[a " * 16_333,
    '"[" * 48999 + "]"': "[" * 48_999 + "]",
    '"[[[]" * 12250': "[[[]" * 12_250,
    '">" * 24500 + " a" + "\\nb" * 12250': ">" * 24_500 + " a\n" + "b\n" * 12_250,
    '">" * 100 + " a" + "\\nb" * 2000': ">" * 100 + " a\n" + "b\n" * 2_000,
}


@pytest.mark.parametrize("body", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_markdown_renders_in_well_under_a_second(body: str) -> None:
    # The unique line makes it a first render, never an answer from the cache.
    # Before: 1.1 to 12 s of CPU each, on every view.
    text = f"{body}\n\nunique {uuid.uuid4()}"
    started = time.thread_time()
    html = render_markdown(text)
    spent = time.thread_time() - started
    assert spent < 0.5, f"{spent:.2f} s"
    assert "unique" in html


def test_an_entry_of_49000_brackets_is_cheap_to_view(demo_people: Settings) -> None:
    # The attack: a practice made of "[" viewed over and over (2.2 s of CPU each time).
    with TestClient(create_app(demo_people)) as client:
        leon = SignedIn(client.app, "leon.fischer")
        made = leon.post("/api/practices", {"title": "Brackets", "body": "[" * 49_000})
        assert made.status_code == 201, made.text
        path = f"/entries/{made.json()['id']}"
        leon.client.get(path)
        started = time.process_time()
        for _ in range(5):
            assert leon.client.get(path).status_code == 200
        spent = time.process_time() - started
        assert spent < 1.0, f"{spent:.2f} s for 5 views"


RICH_DOCUMENT = """# Lathe L3: servo alarm 25201 after warm-up

Seen on **SINUMERIK 840D** and *828D*; see [the manual](https://example.com/m?x=1&y=2 "Manual")
and [ref][] or [the other one][r2], <https://example.com/a>, <someone@example.com>.
Footnote-like [1] and [sic] and an unclosed [bracket, a `[code [span` and \\[escaped\\].

[ref]: https://example.com/ref
[r2]: /entries/MNT-P-001 'Entry'

> Quoted once
>> and twice, with a [link](/x)
>>> three deep
lazy continuation

1. First
   - nested *emphasis* and __strong__ and ~~struck~~
     - deeper `code`
2. Second ![image alt [with brackets]](/static/x.png)

| Part | Code |
|------|-----:|
| SK-4471 | `0x80070005` |
| [a](b) | [[c]] |

```python
print("[[[[")  # brackets in code stay code
```

    indented code [[[
***
Line with hard break\\
next line & entities &copy; &#91; <span>raw html is text</span>
"""
MANY_LINKS = "See " + ", ".join(f"[case {i}](/entries/C-{i}) [n{i}]" for i in range(40)) + "."


def test_ordinary_markdown_renders_as_before_and_only_once() -> None:
    reference = MarkdownIt("js-default", {"linkify": False, "typographer": False})
    # The one intended difference: images only from kb's own attachments (tested in
    # tests/test_entries_attachments.py); the reference shows images the same way.
    reference.add_render_rule("image", own_images_only)
    documents = [RICH_DOCUMENT, MANY_LINKS, RICH_DOCUMENT * 30]
    documents += [Path(name).read_text() for name in glob.glob(f"{CORPUS}/**/*.md", recursive=True)]
    documents += [(REPO / "README.md").read_text(), (REPO / "BENCHMARKS.md").read_text()]
    for document in documents:
        assert str(render_markdown(document)) == reference.render(document), document[:60]
    # Rendered once: the second view of a long entry is answered from the cache.
    long_entry = f"{RICH_DOCUMENT * 40}\n\n{uuid.uuid4()}"
    assert len(long_entry) < 50_000
    started = time.thread_time()
    first = render_markdown(long_entry)
    first_cost = time.thread_time() - started
    started = time.thread_time()
    again = render_markdown(long_entry)
    second_cost = time.thread_time() - started
    assert again == first
    assert second_cost < 0.005 and second_cost < first_cost / 10, (first_cost, second_cost)


# 3. HEAD


def test_head_works_wherever_get_does(client: TestClient, server: str) -> None:
    for path in ["/", "/api/search?q=compressor", "/entries/MNT-P-001", "/healthz"]:
        head = client.head(path)
        get = client.get(path)
        assert head.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert_security_headers(head.headers, path)
    assert client.head("/entries/NOPE-1").status_code == 404
    # and through the real server (uvicorn), HEAD / and HEAD of an API route
    for path in ["/", "/api/search?q=compressor"]:
        head = httpx.head(server + path, timeout=30)
        assert head.status_code == 200 and head.content == b"", path
        assert int(head.headers["content-length"]) > 0


# 4. Oversize bodies: 413, declared or chunked


def raw_request(
    base: str,
    path: str,
    *,
    declared: int | None = None,
    chunked: int | None = None,
    content_type: str = "application/json",
) -> tuple[int, httpx.Headers, dict[str, Any]]:
    """POST to the real server through a raw socket, as a browser or curl would: it sends
    the body while watching for an early answer, and stops sending once one comes."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        length = f"Content-Length: {declared}" if declared else "Transfer-Encoding: chunked"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Accept: text/html,application/json\r\n{length}\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunk = b"a" * 65_536
        sent = 0
        try:
            while chunked and sent < chunked:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered early
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        text = response.read().decode()
        is_json = response.getheader("content-type") == "application/json"
        return (
            response.status,
            httpx.Headers(response.getheaders()),
            json.loads(text) if is_json else {"text": text},
        )


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/signin", "application/x-www-form-urlencoded"), ("/api/problems", "application/json")],
)
def test_a_10_mb_chunked_body_gets_a_413(server: str, path: str, content_type: str) -> None:
    status, headers, body = raw_request(server, path, chunked=10_000_000, content_type=content_type)
    assert status == 413, (status, body)
    assert body["error"]["code"] == "too_large" and "too large" in str(body["error"]["message"])
    assert headers["content-type"] == "application/json"
    status, _headers, body = raw_request(
        server, path, declared=10_000_000, content_type=content_type
    )
    assert status == 413 and body["error"]["code"] == "too_large"
    # and the server is still fine
    assert httpx.get(f"{server}/api/search", params={"q": "compressor"}).status_code == 200


# 5. /healthz


def test_healthz_tells_details_only_to_managers(demo_people: Settings) -> None:
    database = Database.from_settings(demo_people)
    with database.session() as session:
        from sqlalchemy import select

        people = {
            p.handle: p
            for p in session.scalars(
                select(Person).where(Person.handle.in_(["grace.okafor", "leon.fischer"]))
            )
        }
        _, manager_token = create_token(session, people["grace.okafor"], "monitoring")
        _, worker_token = create_token(session, people["leon.fischer"], "scripts")
        session.commit()
    database.dispose()
    with TestClient(create_app(demo_people)) as client:
        # A load balancer, or anyone: is it up? Nothing more.
        assert client.get("/healthz").json() == {"status": "ok"}
        worker = {"authorization": f"Bearer {worker_token}"}
        assert client.get("/healthz", headers=worker).json() == {"status": "ok"}
        assert SignedIn(client.app, "leon.fischer").client.get("/healthz").json() == {
            "status": "ok"
        }
        manager = {"authorization": f"Bearer {manager_token}"}
        for details in [
            client.get("/healthz", headers=manager).json(),
            SignedIn(client.app, "grace.okafor").client.get("/healthz").json(),
        ]:
            assert details["status"] == "ok" and details["entries"] >= 120
            assert details["index_vectors"] > 0 and details["index_model"]
