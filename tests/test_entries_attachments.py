"""Entries (issue 17, point 13) and attachments: optional solution titles, statuses in
words, "updated" only after an edit, the Markdown preview, and images and files on
entries (limits, sniffed types, safe headers, visibility, backup, restore, export)."""

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.attachment_store import path_for, stored_files
from kb.attachments import MAX_ATTACHMENTS_PER_ENTRY
from kb.cli.main import main
from kb.communities import set_private
from kb.models import Attachment, Community, Entry
from tests.conftest import TEST_DATABASE_URL, copy_home, kb_env, make_settings
from tests.test_repertoire import new_article
from tests.web_helpers import SignedIn, sign_in
from web.app import create_app

MAX_MB = 0.05  # 50 kB: a limit the tests can cross cheaply


def png(width: int = 2, height: int = 2, shade: int = 0) -> bytes:
    """A real PNG (browsers must be able to show it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([shade, 120, 200]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def home(demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("entries") / "kb-home"
    copy_home(demo_people_home, home)
    return home


@pytest.fixture(scope="module")
def app(home: Path) -> Iterator[object]:
    with TestClient(create_app(make_settings(home, attachment_max_mb=MAX_MB))) as client:
        yield client.app


def page_client(app: object, handle: str) -> tuple[TestClient, str]:
    client = TestClient(app, headers={"accept": "text/html"})  # type: ignore[arg-type]
    return client, sign_in(client, handle)


def upload(person: SignedIn, entry_id: str, name: str, data: bytes, kind: str = "image/png"):  # type: ignore[no-untyped-def]
    return person.client.post(
        f"/api/entries/{entry_id}/attachments",
        files={"file": (name, data, kind)},
        headers=person.headers,
    )


def new_problem(person: SignedIn, title: str = "Coolant pump hums but does not start") -> str:
    response = person.post(
        "/api/problems",
        {"title": title, "body": "Since the filter change.", "community": "maintenance"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- entries ------------------------------------------------------------------------------


def test_a_solution_has_a_title_only_if_given_one(app: object) -> None:
    leon, priya = SignedIn(app, "leon.fischer"), SignedIn(app, "priya.nair")
    problem = new_problem(leon)
    untitled = priya.post(f"/api/problems/{problem}/solutions", {"body": "Bleed the pump."})
    assert untitled.status_code == 201 and untitled.json()["title"] == ""
    titled = priya.post(
        f"/api/problems/{problem}/solutions",
        {"title": "Replace the start capacitor", "body": "The capacitor was dead."},
    )
    assert titled.json()["title"] == "Replace the start capacitor"

    client, token = page_client(app, "priya.nair")
    posted = client.post(
        f"/entries/{problem}/solutions",
        data={"csrf_token": token, "title": "Check the thermal relay", "body": "It had tripped."},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    page = client.get(f"/entries/{problem}").text
    assert 'id="solution-title"' in page  # the form has the field
    assert "Check the thermal relay" in page and "Replace the start capacitor" in page
    assert "Solution: " not in page  # no filler title, for the untitled one either
    # Lists link to an untitled solution by the problem it answers.
    person = client.get("/people/priya.nair").text
    assert "Answer to: Coolant pump hums but does not start" in person
    solution_page = client.get(f"/entries/{untitled.json()['id']}").text
    assert "<h1>Answer to: Coolant pump hums but does not start</h1>" in solution_page
    # A form refused for its empty body keeps the title typed.
    again = client.post(
        f"/entries/{problem}/solutions",
        data={"csrf_token": token, "title": "Kept title", "body": " "},
    )
    assert again.status_code == 422 and 'value="Kept title"' in again.text


def test_statuses_read_as_words_and_the_id_is_not_the_heading(app: object) -> None:
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        entry = session.scalar(select(Entry).where(Entry.kind == "problem").limit(1))
        assert entry is not None
        entry.status = "in_progress"
        session.commit()
        external_id, title = entry.external_id, entry.title
    client = TestClient(app)  # type: ignore[arg-type]
    page = client.get(f"/entries/{external_id}").text
    assert ">In progress<" in page and ">in_progress<" not in page
    assert f"<h1>{title}</h1>" in page.replace("&#39;", "'")
    assert 'class="entry-id"' in page and f"<code>{external_id}</code>" in page
    results = client.get("/search", params={"q": title}).text
    assert ">in_progress<" not in results


def test_updated_shows_only_after_an_edit(app: object) -> None:
    leon = SignedIn(app, "leon.fischer")
    problem = new_problem(leon, "Conveyor belt drifts to the left")
    client = TestClient(app)  # type: ignore[arg-type]
    assert 'class="updated"' not in client.get(f"/entries/{problem}").text
    edited = leon.patch(
        f"/api/entries/{problem}",
        {"title": "Conveyor belt drifts to the left", "body": "Worse when loaded.", "tags": []},
    )
    assert edited.status_code == 200, edited.text
    assert 'class="updated"' in client.get(f"/entries/{problem}").text


def test_the_preview_is_the_safe_renderer(app: object) -> None:
    client = TestClient(app)  # type: ignore[arg-type]
    text = "**bold** <script>alert(1)</script> ![x](https://elsewhere.example/p.png)"
    response = client.post("/api/preview", json={"text": text})
    assert response.status_code == 200
    html = response.json()["html"]
    assert "<strong>bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "elsewhere.example" not in html  # images from elsewhere are not shown
    own = client.post("/api/preview", json={"text": "![photo](/attachments/7)"}).json()["html"]
    assert '<img src="/attachments/7" alt="photo"' in own
    too_long = client.post("/api/preview", json={"text": "x" * 50_001})
    assert too_long.status_code == 422
    for page in ("/ask", "/capture"):
        assert "data-preview-for" in client.get(page).text


# -- attachments --------------------------------------------------------------------------


def test_an_image_is_attached_shown_and_served_inline(app: object) -> None:
    leon = SignedIn(app, "leon.fischer")
    problem = new_problem(leon, "Hydraulic hose weeps at the fitting")
    image = png()
    response = upload(leon, problem, "../../fitting photo.png", image, "text/html")
    assert response.status_code == 201, response.text
    attached = response.json()
    assert attached["content_type"] == "image/png"  # sniffed, not what the browser said
    assert attached["filename"] == "fitting photo.png" and attached["inline"]
    served = TestClient(app).get(attached["url"])  # type: ignore[arg-type]
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"].startswith("inline")
    assert "private" in served.headers["cache-control"]
    assert "sandbox" in served.headers["content-security-policy"]
    page = TestClient(app).get(f"/entries/{problem}").text  # type: ignore[arg-type]
    assert f'<img src="{attached["url"]}"' in page
    listed = TestClient(app).get(f"/api/entries/{problem}/attachments").json()  # type: ignore[arg-type]
    assert [a["id"] for a in listed] == [attached["id"]]


def test_other_files_download_and_unsafe_types_are_refused(app: object) -> None:
    leon = SignedIn(app, "leon.fischer")
    problem = new_problem(leon, "Press cycle counter resets at midnight")
    text = upload(leon, problem, "log.txt", b"12:00 reset\n<script>x</script>\n", "text/html")
    assert text.status_code == 201 and text.json()["content_type"].startswith("text/plain")
    served = TestClient(app).get(text.json()["url"])  # type: ignore[arg-type]
    assert served.headers["content-disposition"].startswith("attachment")
    assert served.headers["content-type"].startswith("text/plain")
    pdf = upload(leon, problem, "manual.pdf", b"%PDF-1.4\n%\xe2\xe3\n", "application/pdf")
    assert pdf.status_code == 201
    assert (
        TestClient(app)
        .get(pdf.json()["url"])
        .headers["content-disposition"]
        .startswith(  # type: ignore[arg-type]
            "attachment"
        )
    )
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for name, data in [
        ("drawing.svg", svg),
        ("page.html", b"<html><script>alert(1)</script></html>"),
        ("tool.exe", b"MZ\x90\x00" + b"\x00" * 50),
        ("fake.png", b"not a picture at all"),
        ("binary.txt", b"\x00\x01\x02"),
    ]:
        refused = upload(leon, problem, name, data, "image/png")
        assert refused.status_code == 422, (name, refused.text)
        assert "not a file kb accepts" in refused.json()["error"]["message"]


def test_size_and_count_limits(app: object) -> None:
    leon = SignedIn(app, "leon.fischer")
    problem = new_problem(leon, "Spindle warms up slowly in winter")
    too_large = upload(leon, problem, "big.png", png() + b"\x00" * int(MAX_MB * 1_000_000))
    assert too_large.status_code == 422
    assert "the limit is 50,000" in too_large.json()["error"]["message"]
    # A body far past the limit is refused before it is read.
    huge = upload(leon, problem, "huge.png", b"\x00" * 2_000_000)
    assert huge.status_code == 413
    for shade in range(MAX_ATTACHMENTS_PER_ENTRY):
        assert upload(leon, problem, f"p{shade}.png", png(shade=shade)).status_code == 201
    one_more = upload(leon, problem, "last.png", png(shade=250))
    assert one_more.status_code == 422 and "remove one first" in one_more.text


def test_only_the_author_or_a_knowledge_manager_attaches_and_removes(app: object) -> None:
    leon, tomas = SignedIn(app, "leon.fischer"), SignedIn(app, "tomas.novak")
    grace = SignedIn(app, "grace.okafor")  # knowledge manager
    problem = new_problem(leon, "Air dryer alarm after every restart")
    assert upload(tomas, problem, "a.png", png()).status_code == 403
    attached = upload(grace, problem, "a.png", png(shade=201)).json()
    assert (
        tomas.client.delete(f"/api/attachments/{attached['id']}", headers=tomas.headers).status_code
        == 403
    )
    removed = leon.client.delete(f"/api/attachments/{attached['id']}", headers=leon.headers)
    assert removed.status_code == 204
    assert TestClient(app).get(attached["url"]).status_code == 404  # type: ignore[arg-type]
    # Its file went with it, since nothing else refers to it.
    settings = app.state.settings  # type: ignore[attr-defined]
    assert not path_for(settings.attachments_dir, attached["sha256"]).exists()


def test_attachments_through_the_entry_page_form(app: object) -> None:
    client, token = page_client(app, "leon.fischer")
    problem = new_problem(SignedIn(app, "leon.fischer"), "Light curtain trips with no one there")
    page = client.get(f"/entries/{problem}").text
    assert 'enctype="multipart/form-data"' in page
    posted = client.post(
        f"/entries/{problem}/attachments",
        data={"csrf_token": token},
        files={"file": ("curtain.png", png(shade=33), "image/png")},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    page = client.get(f"/entries/{problem}").text
    assert "curtain.png" in page and "/attachments/" in page
    refused = client.post(
        f"/entries/{problem}/attachments",
        data={"csrf_token": token},
        files={"file": ("x.svg", b"<svg/>", "image/svg+xml")},
    )
    assert refused.status_code == 422 and "not a file kb accepts" in refused.text
    no_csrf = client.post(
        f"/entries/{problem}/attachments", files={"file": ("a.png", png(), "image/png")}
    )
    assert no_csrf.status_code == 403


def test_an_attachment_of_an_entry_one_may_not_see_is_a_404(app: object) -> None:
    priya = SignedIn(app, "priya.nair")  # in it-support
    response = priya.post(
        "/api/problems",
        {"title": "VPN client asks for the token twice", "body": ".", "community": "it-support"},
    )
    problem = response.json()["id"]
    attached = upload(priya, problem, "vpn.png", png(shade=99)).json()
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        community = session.scalar(select(Community).where(Community.slug == "it-support"))
        assert community is not None
        set_private(session, community, True)
    try:
        assert priya.client.get(attached["url"]).status_code == 200
        jonas = SignedIn(app, "jonas.weber")  # maintenance only
        hidden = jonas.client.get(attached["url"])
        assert hidden.status_code == 404 and "no attachment has the id" in hidden.text
        assert TestClient(app).get(attached["url"]).status_code == 404  # type: ignore[arg-type]
        assert jonas.client.get(f"/api/entries/{problem}/attachments").status_code == 404
        assert upload(jonas, problem, "b.png", png()).status_code == 404
    finally:
        with app.state.database.session() as session:  # type: ignore[attr-defined]
            community = session.scalar(select(Community).where(Community.slug == "it-support"))
            assert community is not None
            set_private(session, community, False)


def test_removing_the_entry_removes_its_attachments(app: object, home: Path) -> None:
    leon = SignedIn(app, "leon.fischer")
    problem = new_problem(leon, "Forklift charger shows E7")
    attached = upload(leon, problem, "e7.png", png(shade=111)).json()
    settings = app.state.settings  # type: ignore[attr-defined]
    assert path_for(settings.attachments_dir, attached["sha256"]).exists()
    result = CliRunner().invoke(main, ["remove", problem], env=kb_env(home))
    assert result.exit_code == 0, result.output
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        assert session.get(Attachment, attached["id"]) is None
    assert not path_for(settings.attachments_dir, attached["sha256"]).exists()


def test_export_copies_the_attachments_next_to_the_markdown(app: object, tmp_path: Path) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace, title="Checking a weeping hose fitting")
    attached = upload(grace, str(article["id"]), "fitting.png", png(shade=5)).json()
    folder = tmp_path / "repertoire"
    env = kb_env(app.state.settings.home)  # type: ignore[attr-defined]
    result = CliRunner().invoke(main, ["export", "repertoire", str(folder)], env=env)
    assert result.exit_code == 0, result.output
    copied = folder / "attachments" / f"{attached['id']}-fitting.png"
    assert copied.read_bytes() == png(shade=5)
    markdown = (folder / f"{article['id']}.md").read_text(encoding="utf-8")
    assert f"attachments/{attached['id']}-fitting.png" in markdown


@pytest.mark.skipif(TEST_DATABASE_URL is not None, reason="kb backup copies a SQLite file")
def test_backup_and_restore_include_the_attachments(demo_people_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "kb-home"
    copy_home(demo_people_home, home)
    with TestClient(create_app(make_settings(home))) as client:
        leon = SignedIn(client.app, "leon.fischer")
        problem = new_problem(leon, "Chiller pressure drops at night")
        attached = upload(leon, problem, "gauge.png", png(shade=77)).json()
    stored = path_for(home / "attachments", attached["sha256"])
    backup = tmp_path / "backups" / "kb.db"
    result = CliRunner().invoke(main, ["backup", str(backup)], env=kb_env(home))
    assert result.exit_code == 0 and "1 attached file(s)" in result.output, result.output
    assert (
        path_for(Path(f"{backup}.attachments"), attached["sha256"]).read_bytes()
        == stored.read_bytes()
    )

    stored.unlink()  # lost with the disk, say
    result = CliRunner().invoke(main, ["restore", str(backup), "--yes"], env=kb_env(home))
    assert result.exit_code == 0, result.output
    assert stored.read_bytes() == png(shade=77)
    assert list(stored_files(home / "attachments")) == [attached["sha256"]]


def test_malformed_attachment_requests_get_a_4xx_with_a_reason(app: object) -> None:
    leon = SignedIn(app, "leon.fischer")
    problem = new_problem(leon, "Compressor log rotates too often")
    no_file = leon.client.post(
        f"/api/entries/{problem}/attachments", data={"x": "1"}, headers=leon.headers
    )
    assert no_file.status_code == 422
    empty = upload(leon, problem, "empty.txt", b"", "text/plain")
    assert empty.status_code == 422 and "is empty" in empty.text
    assert upload(leon, "NO-SUCH-ENTRY", "a.png", png()).status_code == 404
    anonymous = TestClient(app)  # type: ignore[arg-type]
    assert (
        anonymous.post(
            f"/api/entries/{problem}/attachments", files={"file": ("a.png", png(), "image/png")}
        ).status_code
        == 401
    )
    assert anonymous.get("/attachments/0").status_code == 422
    assert anonymous.get("/attachments/99999999").status_code == 404
    missing = leon.client.delete("/api/attachments/99999999", headers=leon.headers)
    assert missing.status_code == 404
    assert anonymous.post("/api/preview", json={}).status_code == 422
