"""The standard repertoire: who may do what, the lifecycle, articles with provenance,
review dates and the queue, event-triggered review, export → import, boosts and hiding."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.accounts import Role
from kb.cli import main
from kb.database import Database
from kb.errors import InvalidContribution, NotAllowed
from kb.lifecycle import change_state
from kb.models import Entry, Person, utcnow
from kb.permissions import Action, allowed
from kb.repertoire import promote_to_article
from kb.reviews import record_review, review_queue
from kb.settings import Settings
from tests.conftest import kb_env
from tests.web_helpers import SignedIn
from web.app import create_app

# Written out by hand (not derived from the code) so that a change to the rules shows up.
MATRIX = {
    Role.WORKER: {"capture", "reuse"},
    Role.TUTOR: {"capture", "reuse", "flag_for_review"},
    Role.KNOWLEDGE_MANAGER: {
        "capture", "reuse", "validate", "promote", "set_review", "archive", "flag_for_review",
    },
    Role.COMMUNITY_LEADER: {"capture", "reuse", "manage_members"},
    Role.ADMIN: {a.value for a in Action},
}  # fmt: skip


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_permission_matrix(role: Role, action: Action) -> None:
    person = Person(handle="x", name="X", roles=[role.value], communities=[])
    assert allowed(person, action) == (action.value in MATRIX[role])


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    with TestClient(create_app(demo_people)) as client:
        yield client.app


SECTIONS = {
    "problem": "A SINUMERIK lathe stops with alarm 25201 after it has warmed up.",
    "cause": "Coolant mist reaches the DRIVE-CLiQ connector of the X axis motor.",
    "resolution": "Dry and reseat the connector, latch it, and reroute the coolant hose.",
    "applies_when": "828D lathes with 231885 next to 25201.",
    "not_applies_when": "Power-section alarms (overcurrent, DC link).",
}


def new_article(person: SignedIn, **overrides: object) -> dict[str, object]:
    payload = {
        "title": "Alarm 25201 after warm-up: the DRIVE-CLiQ connector",
        "sections": SECTIONS,
        "sources": ["MNT-P-001"],
        "scope": "maintenance",
        "review_interval_days": 30,
        **overrides,
    }
    response = person.post("/api/articles", payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize(
    ("handle", "action", "path", "payload", "status"),
    [
        ("tomas.novak", "validate", "/api/entries/MNT-S-001-2/state", {"to": "validated"}, 403),
        ("peter.lindqvist", "validate", "/api/entries/MNT-S-001-2/state", {"to": "validated"}, 403),
        ("grace.okafor", "validate", "/api/entries/MNT-S-001-2/state", {"to": "validated"}, 200),
        ("david.chen", "validate", "/api/entries/MNT-S-001-2/state", {"to": "validated"}, 200),
        ("tomas.novak", "archive", "/api/entries/MNT-G-002/state", {"to": "archived"}, 403),
        ("grace.okafor", "archive", "/api/entries/MNT-G-002/state", {"to": "archived"}, 200),
    ],
)
def test_roles_are_checked_on_the_server(
    app: object, handle: str, action: str, path: str, payload: dict[str, str], status: int
) -> None:
    response = SignedIn(app, handle).post(path, payload)
    assert response.status_code == status, response.text
    if status == 403:
        assert "only" in response.json()["error"]["message"]


def test_roles_in_the_demo_are_what_the_matrix_tests_assume(app: object) -> None:
    with app.state.database.session() as session:  # type: ignore[attr-defined]
        roles = dict(session.execute(select(Person.handle, Person.roles)).all())
    assert roles["david.chen"] == ["worker", "admin"]
    assert roles["grace.okafor"] == ["worker", "knowledge_manager"]
    assert roles["peter.lindqvist"] == ["worker", "tutor"]
    assert roles["tomas.novak"] == ["worker"]


@pytest.mark.parametrize(
    ("start", "target", "legal"),
    [
        ("draft", "community", True),
        ("community", "validated", True),
        ("validated", "standard", True),
        ("standard", "validated", True),
        ("validated", "community", True),
        ("community", "archived", True),
        ("standard", "archived", True),
        ("archived", "community", True),
        ("community", "standard", False),  # validate first
        ("draft", "standard", False),
        ("archived", "standard", False),
        ("community", "solved", False),  # not a state of a practice
        ("community", "open", False),
    ],
)
def test_content_lifecycle(database: Database, start: str, target: str, legal: bool) -> None:
    with database.session() as session:
        manager = Person(handle="km", name="KM", roles=["knowledge_manager"], communities=[])
        session.add(manager)
        session.flush()
        from kb.contributions import capture_practice
        from kb.entry_schema import EntryDraft

        practice = capture_practice(
            session, manager, EntryDraft("Warm-up", "Run 10 minutes."), None
        )
        practice.status = start
        if legal:
            change_state(session, manager, practice, target)
            assert practice.status == target
        else:
            with pytest.raises(InvalidContribution):
                change_state(session, manager, practice, target)


def test_problems_close_and_reopen_by_asker_or_manager(app: object) -> None:
    leon, priya, grace = (SignedIn(app, h) for h in ("leon.fischer", "priya.nair", "grace.okafor"))
    assert priya.post("/api/entries/MNT-P-001/state", {"to": "closed"}).status_code == 403
    closed = leon.post("/api/entries/MNT-P-001/state", {"to": "closed"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert leon.post("/api/entries/MNT-P-001/state", {"to": "solved"}).status_code == 422
    reopened = grace.post("/api/entries/MNT-P-001/state", {"to": "open", "note": "back again"})
    assert reopened.json()["status"] == "open"
    assert all(
        not leon.client.get(f"/api/entries/{s}").json()["accepted"]
        for s in reopened.json()["solutions"]
    )
    history = leon.client.get("/entries/MNT-P-001/revisions").text
    assert "closed" in history and "back again" in history


def test_an_article_keeps_provenance_credits_and_schedule(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace)
    assert article["status"] == "standard" and article["sources"] == ["MNT-P-001"]
    assert set(article["credits"]) >= {"leon.fischer", "marta.kowalski"}  # asker, solver
    page = grace.client.get(f"/entries/{article['id']}").text
    assert "Distilled from" in page and "When it does not apply" in page
    assert "Power-section alarms" in page
    refused = SignedIn(app, "tomas.novak").post(
        "/api/articles", {"title": "x", "sections": SECTIONS, "sources": ["MNT-P-001"]}
    )
    assert refused.status_code == 403


def test_review_dates_and_the_queue_follow_the_clock(database: Database) -> None:
    start = utcnow()
    with database.session() as session:
        manager = Person(handle="km", name="KM", roles=["knowledge_manager"], communities=[])
        session.add(manager)
        session.flush()
        from kb.contributions import ask_problem
        from kb.entry_schema import EntryDraft

        case = ask_problem(session, manager, EntryDraft("Press drifts down"), None)
        article = promote_to_article(
            session, manager, title="Press drift", sections=SECTIONS, sources=[case],
            review_interval_days=30, now=start,
        )  # fmt: skip
        assert article.next_review_at == start + timedelta(days=30)
        assert review_queue(session, now=start + timedelta(days=10), due_within_days=14) == []
        due = review_queue(session, now=start + timedelta(days=20), due_within_days=14)
        assert [item.state for item in due] == ["due"]
        late = start + timedelta(days=31)
        assert [i.state for i in review_queue(session, now=late, due_within_days=14)] == ["overdue"]
        review = record_review(session, manager, article, "confirmed", "still right", now=late)
        assert review.outcome == "confirmed" and article.next_review_at == late + timedelta(days=30)
        assert review_queue(session, now=late, due_within_days=14) == []
        worker = Person(handle="w", name="W", roles=["worker"], communities=[])
        session.add(worker)
        session.flush()
        with pytest.raises(NotAllowed):
            record_review(session, worker, article, "confirmed")


def test_did_not_work_and_reopening_put_the_article_in_the_queue_at_once(app: object) -> None:
    grace, tomas = SignedIn(app, "grace.okafor"), SignedIn(app, "tomas.novak")
    article = new_article(grace)
    assert grace.client.get("/api/reviews").json() == []
    tomas.post("/api/entries/MNT-S-001-1/feedback", {"kind": "did_not_work", "reason": "L5"})
    queue = grace.client.get("/api/reviews").json()
    assert [(q["article"]["id"], q["state"]) for q in queue] == [(article["id"], "requested")]
    assert "did not work for me (L5)" in queue[0]["article"]["review_reason"]

    done = grace.post(f"/api/articles/{article['id']}/reviews", {"outcome": "confirmed"})
    assert done.status_code == 201 and grace.client.get("/api/reviews").json() == []
    grace.post("/api/entries/MNT-P-001/state", {"to": "open"})
    queue = grace.client.get("/api/reviews").json()
    assert queue and "MNT-P-001 was reopened" in queue[0]["article"]["review_reason"]
    assert "review overdue" in grace.client.get("/search?q=alarm+25201+warm-up").text


def test_search_prefers_standard_content_and_hides_archived(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace)
    query = {"q": "lathe alarm 25201 after warm-up", "limit": 5}
    hits = grace.client.get("/api/search", params=query).json()["hits"]
    assert hits[0]["id"] == article["id"] and hits[0]["status"] == "standard"

    grace.post(f"/api/entries/{article['id']}/state", {"to": "archived"})
    hits = grace.client.get("/api/search", params=query).json()["hits"]
    assert article["id"] not in {h["id"] for h in hits}
    archived = grace.client.get("/api/search", params={**query, "status": "archived"}).json()
    assert [h["id"] for h in archived["hits"]] == [article["id"]]


def test_promotion_candidates_come_from_reuse_and_leave_once_covered(app: object) -> None:
    grace, tomas, priya = (SignedIn(app, h) for h in ("grace.okafor", "tomas.novak", "priya.nair"))
    tomas.post("/api/entries/ITS-S-001-1/reuse")
    priya.post("/api/entries/ITS-S-001-1/reuse")
    cases = grace.client.get("/api/repertoire/candidates").json()["cases"]
    assert cases[0]["problem"] == "ITS-P-001" and cases[0]["reuses"] == 2
    new_article(grace, sources=["ITS-P-001"], title="VPN 0x80070005", scope="it-support")
    cases = grace.client.get("/api/repertoire/candidates").json()["cases"]
    assert "ITS-P-001" not in {c["problem"] for c in cases}


def test_community_leaders_manage_only_their_community(app: object) -> None:
    marta = SignedIn(app, "marta.kowalski")  # leads maintenance
    added = marta.post("/api/communities/maintenance/members", {"person": "ravi.patel"})
    assert added.status_code == 200 and added.json()["member"] is True
    other = marta.post("/api/communities/it-support/members", {"person": "ravi.patel"})
    assert other.status_code == 403
    assert (
        SignedIn(app, "tomas.novak")
        .post("/api/communities/maintenance/members", {"person": "ravi.patel", "member": False})
        .status_code
        == 403
    )


def test_export_then_import_gives_the_same_articles(
    app: object, demo_home: Path, tmp_path: Path
) -> None:
    grace = SignedIn(app, "grace.okafor")
    first = new_article(grace)
    second = new_article(
        grace, title="VPN error 0x80070005", sources=["ITS-P-001", "ITS-S-001-1"], scope=None
    )
    folder = tmp_path / "repertoire"
    from tests.conftest import copy_home, make_settings

    env = kb_env(app.state.settings.home)  # type: ignore[attr-defined]
    result = CliRunner().invoke(main, ["export", "repertoire", str(folder)], env=env)
    assert result.exit_code == 0 and "Wrote 2 article(s)" in result.output

    other = tmp_path / "other-home"
    copy_home(demo_home, other)
    result = CliRunner().invoke(main, ["import", str(folder)], env=kb_env(other))
    assert result.exit_code == 0, result.output
    with TestClient(create_app(make_settings(other))) as client:
        for original in (first, second):
            copy = client.get(f"/api/articles/{original['id']}").json()
            assert copy == original
            entry = client.get(f"/api/entries/{original['id']}").json()
            assert entry["kind"] == "article" and entry["status"] == "standard"


def test_a_collection_exports_html_and_markdown_booklets(app: object) -> None:
    grace = SignedIn(app, "grace.okafor")
    article = new_article(grace)
    made = grace.post(
        "/api/collections",
        {
            "title": "Faults that appear when machines warm up",
            "introduction": "Heat changes **everything**.",
            "entries": [article["id"], "MNT-P-001"],
            "questions": ["What would you check first?", "Why did the cable look fine?"],
        },
    )
    assert made.status_code == 201, made.text
    booklet = grace.client.get(made.json()["booklet_html"]).text
    assert "<strong>everything</strong>" in booklet and "Questions for discussion" in booklet
    assert "/static/" not in booklet  # standalone: styles inline
    markdown = grace.client.get(made.json()["booklet_markdown"]).text
    assert markdown.startswith("# Faults that appear when machines warm up")
    assert "## 2. SINUMERIK alarm 25201" in markdown and "### Accepted solution" in markdown
    worker = SignedIn(app, "tomas.novak").post(
        "/api/collections", {"title": "x", "entries": ["MNT-P-001"]}
    )
    assert worker.status_code == 403


def test_imported_articles_must_name_existing_sources(tmp_path: Path, demo_copy: Settings) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.md").write_text(
        "---\nid: art-1\nkind: article\ntitle: T\nauthor: grace.okafor\nsources: [NOPE-1]\n"
        "sections:\n  problem: p\n  resolution: r\n---\n"
    )
    result = CliRunner().invoke(main, ["import", str(folder)], env=kb_env(demo_copy.home))
    assert result.exit_code != 0 and "a.md" in result.output and "NOPE-1" in result.output
    with Database.from_settings(demo_copy).session() as session:
        assert session.scalar(select(Entry).where(Entry.external_id == "art-1")) is None
