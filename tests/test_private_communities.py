"""Members-only communities (kb.visibility), as a matrix: who is looking × whether the
community is open or private × what they do × where (pages, JSON API with the cookie
or a bearer token). docs/permissions.md states the rules these tests hold kb to.

The demo gets a private community `hr` with 25 payroll cases, more than a page of
results, that all rank above everything else for a payroll query; members are
anna.berg and mateo.garcia. Its twin `payroll-open` holds one open case, so that each
surface is also seen to show what it should (a test that only checks absence could
pass on an empty page).
"""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from indexer.embedder import Embedder
from kb.accounts import create_token
from kb.cli.main import main as kb_main
from kb.collections import create_collection
from kb.communities import create_community, set_private
from kb.database import Database
from kb.follows import follow
from kb.models import Community, Entry, Notification, Person
from kb.repertoire import promote_to_article
from kb.settings import Settings
from kb.visibility import Visibility, visibility_for
from search.engine import SearchEngine, SearchMode
from search.filters import SearchFilters
from tests.conftest import copy_home, import_path, index, make_settings
from tests.web_helpers import SignedIn

MEMBERS = ("anna.berg", "mateo.garcia")
PRIVATE_CASE = "HR-P-001"  # solved by mateo.garcia, accepted
PRIVATE_TITLE = "Night-shift allowance missing from the November payslip"
OPEN_PRIVATE_PROBLEM = "HR-P-002"
OPEN_PRIVATE_TITLE = "Payroll run rejects the overtime file for the Riverside plant"
OPEN_CASE = "PAY-P-001"
OPEN_TITLE = "Payslip portal shows the October payslip twice"
PAYROLL_QUERY = "payslip is missing the night shift allowance payroll"


def _payroll_records() -> list[dict[str, object]]:
    records: list[dict[str, object]] = [
        {
            "id": PRIVATE_CASE,
            "kind": "problem",
            "title": PRIVATE_TITLE,
            "body": "The night-shift allowance for the last two weeks is missing from my "
            "November payslip; the payroll office says the hours were not approved.",
            "author": "anna.berg",
            "community": "hr",
            "tags": ["payroll"],
        },
        {
            "id": "HR-S-001",
            "kind": "solution",
            "title": "Approve the night-shift hours, then the payroll correction run pays them",
            "body": "Ask your shift lead to approve the night-shift hours in the time "
            "system; the payroll correction run on the 5th pays the missing allowance.",
            "author": "mateo.garcia",
            "community": "hr",
            "solves": PRIVATE_CASE,
            "accepted": True,
        },
        {
            "id": OPEN_PRIVATE_PROBLEM,
            "kind": "problem",
            "title": OPEN_PRIVATE_TITLE,
            "body": "The payroll run rejects the overtime import file for Riverside with "
            "'unknown cost centre'; night-shift allowances are not paid.",
            "author": "anna.berg",
            "community": "hr",
            "tags": ["payroll"],
        },
    ]
    for number in range(3, 26):  # 25 private entries in all: more than a page of results
        records.append(
            {
                "id": f"HR-G-{number:03d}",
                "kind": "practice",
                "title": f"Payroll practice {number}: checking the night-shift allowance "
                "on the payslip",
                "body": "Before the payroll cut-off, check every payslip line for the "
                f"night-shift allowance and the approved hours (case {number}).",
                "author": "mateo.garcia",
                "community": "hr",
                "tags": ["payroll"],
            }
        )
    records.append(
        {
            "id": OPEN_CASE,
            "kind": "problem",
            "title": OPEN_TITLE,
            "body": "The payslip portal lists the October payslip twice and the night-shift "
            "allowance line looks doubled.",
            "author": "tomas.novak",
            "community": "payroll-open",
            "tags": ["payroll"],
        }
    )
    return records


@pytest.fixture(scope="module")
def private_home(
    demo_people_home: Path, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> Path:
    home = tmp_path_factory.mktemp("private") / "kb-home"
    copy_home(demo_people_home, home)
    settings = make_settings(home)
    database = Database.from_settings(settings)
    with database.session() as session:
        create_community(session, "hr", "People & HR", private=True)
        create_community(session, "payroll-open", "Payroll questions")
        for handle in MEMBERS:
            person = session.scalar(select(Person).where(Person.handle == handle))
            assert person is not None
            person.communities = [*person.communities, "hr"]
        session.commit()
    source = tmp_path_factory.mktemp("private-source") / "payroll.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _payroll_records()))
    import_path(database, source, settings)
    index(database, settings, embedder)
    with database.session() as session:
        admin = session.scalar(select(Person).where(Person.handle == "david.chen"))
        assert admin is not None
        hr_case = session.scalar(select(Entry).where(Entry.external_id == PRIVATE_CASE))
        open_case = session.scalar(select(Entry).where(Entry.external_id == OPEN_CASE))
        assert hr_case is not None and open_case is not None
        promote_to_article(
            session,
            admin,
            title="Paying a missing night-shift allowance (HR article)",
            sections={"problem": "Allowance missing.", "resolution": "Approve the hours."},
            sources=[hr_case],
            owner=admin,
            scope="hr",
            review_interval_days=1,
        )
        create_collection(
            session,
            admin,
            title="Payroll cases",
            introduction="Cases from both payroll communities.",
            entries=[open_case, hr_case],
            questions=[],
        )
        session.commit()
    database.dispose()
    return home


@pytest.fixture(scope="module")
def app(private_home: Path) -> Iterator[object]:
    with TestClient(create_app_for(private_home)) as client:
        yield client.app


def create_app_for(home: Path) -> object:
    from web.app import create_app

    return create_app(make_settings(home))


# -- who is looking -------------------------------------------------------------------
# (handle or None for a reader who is not signed in, whether they may see `hr`)
VIEWERS = {
    "anonymous": (None, False),
    "worker, not a member": ("tomas.novak", False),
    "tutor, not a member": ("ines.moreau", False),
    "knowledge manager and leader, not a member": ("elena.rossi", False),
    "admin, not a member": ("david.chen", True),
    "member": ("anna.berg", True),
}


class Viewer:
    """One way of asking: the cookie of a signed-in session, or a bearer token."""

    def __init__(self, app: object, handle: str | None, via_token: bool) -> None:
        self.handle = handle
        self.headers: dict[str, str] = {}
        if handle is None:
            self.client = TestClient(app)  # type: ignore[arg-type]
        elif via_token:
            self.client = TestClient(app)  # type: ignore[arg-type]
            database: Database = app.state.database  # type: ignore[attr-defined]
            with database.session() as session:
                person = session.scalar(select(Person).where(Person.handle == handle))
                assert person is not None
                _, plain = create_token(session, person, "matrix")
            self.headers = {"Authorization": f"Bearer {plain}"}
        else:
            signed_in = SignedIn(app, handle)
            self.client, self.headers = signed_in.client, signed_in.headers

    def get(self, path: str, **params: object) -> str:
        response = self.client.get(path, params=params, headers=self.headers)  # type: ignore[arg-type]
        return response.text if response.status_code < 400 else f"[{response.status_code}]"

    def post(self, path: str, body: object) -> str:
        response = self.client.post(path, json=body, headers=self.headers)
        return response.text if response.status_code < 400 else f"[{response.status_code}]"


@pytest.fixture(scope="module")
def ids(app: object) -> dict[str, str]:
    """The ids kb gave the collection and the private article."""
    from kb.models import Collection

    database: Database = app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        collection = session.scalar(
            select(Collection.id).where(Collection.title == "Payroll cases")
        )
        article = session.scalar(select(Entry.external_id).where(Entry.title.like("%(HR article)")))
    assert collection is not None and article is not None
    return {"collection": str(collection), "article": article}


# -- where: each surface, read the way a client reads it; (text, needle) -------------
def surfaces(viewer: Viewer, ids: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """surface -> (what came back, what a private case shows, what the open twin shows)."""
    q = PAYROLL_QUERY
    collection, article = ids["collection"], ids["article"]
    return {
        # (For members the 25 private cases fill the first page; the API's 50 show both.)
        "search page": (viewer.get("/search", q=q), PRIVATE_TITLE, ""),
        "search API": (viewer.get("/api/search", q=q, limit=50), PRIVATE_CASE, OPEN_CASE),
        "search facets": (viewer.get("/search", q=q), "community=hr&", "community=payroll-open"),
        "similar while typing": (
            viewer.post("/api/similar", {"title": q}),
            PRIVATE_CASE,
            OPEN_CASE,
        ),
        "entry page": (viewer.get(f"/entries/{PRIVATE_CASE}"), PRIVATE_TITLE, ""),
        "entry API": (viewer.get(f"/api/entries/{PRIVATE_CASE}"), PRIVATE_TITLE, ""),
        "revisions": (viewer.get(f"/entries/{PRIVATE_CASE}/revisions"), PRIVATE_TITLE, ""),
        "comments API": (viewer.get(f"/api/entries/{PRIVATE_CASE}/comments"), "[]", ""),
        "person page": (viewer.get("/people/mateo.garcia"), "Payroll practice 3:", ""),
        "person API": (viewer.get("/api/people/mateo.garcia"), "HR-S-001", ""),
        "person's communities": (viewer.get("/api/people/mateo.garcia"), '"hr"', ""),
        "community page": (viewer.get("/communities/hr"), PRIVATE_TITLE, ""),
        "home page": (viewer.get("/"), OPEN_PRIVATE_TITLE, OPEN_TITLE),
        "experts API reasons": (
            viewer.get("/api/experts", q=q, limit=10),
            PRIVATE_TITLE,
            "",
        ),
        "collection page": (viewer.get(f"/collections/{collection}"), PRIVATE_TITLE, OPEN_TITLE),
        "booklet": (
            viewer.get(f"/collections/{collection}/booklet.md"),
            PRIVATE_TITLE,
            OPEN_TITLE,
        ),
        "collection API": (viewer.get(f"/api/collections/{collection}"), PRIVATE_CASE, OPEN_CASE),
        "repertoire page": (viewer.get("/repertoire"), "(HR article)", ""),
        "article API": (viewer.get(f"/api/articles/{article}"), "(HR article)", ""),
    }


# Everyone through the session cookie; everyone signed in also with a bearer token.
WAYS = [(who, False) for who in VIEWERS] + [(who, True) for who, (h, _) in VIEWERS.items() if h]


@pytest.mark.parametrize(
    ("who", "via_token"), WAYS, ids=[f"{w}-{'token' if t else 'cookie'}" for w, t in WAYS]
)
def test_private_entries_are_visible_to_members_and_admins_only_on_every_surface(
    app: object, ids: dict[str, str], who: str, via_token: bool
) -> None:
    handle, may_see = VIEWERS[who]
    viewer = Viewer(app, handle, via_token)
    seen = surfaces(viewer, ids)
    leaks = [name for name, (text, private, _) in seen.items() if private in text]
    missing = [name for name, (text, private, _) in seen.items() if private not in text]
    if may_see:
        assert missing == [], f"{who} should see the private case on {missing}"
    else:
        assert leaks == [], f"{who} sees the private case on {leaks}"
    # The open twin shows everywhere it belongs, to everyone: the pages are not just empty.
    hidden_open = [
        name for name, (text, _, public) in seen.items() if public and public not in text
    ]
    assert hidden_open == [], f"{who} does not see the open case on {hidden_open}"


@pytest.mark.parametrize("who", list(VIEWERS))
def test_writes_on_a_private_entry_are_refused_as_if_it_did_not_exist(
    app: object, who: str
) -> None:
    handle, may_see = VIEWERS[who]
    if handle is None:
        return  # writing needs signing in, private or not (tests/test_write_api.py)
    viewer = Viewer(app, handle, via_token=True)
    answers = {
        "comment": viewer.post(f"/api/entries/{OPEN_PRIVATE_PROBLEM}/comments", {"body": "Hi"}),
        "feedback": viewer.post("/api/entries/HR-S-001/feedback", {"kind": "helpful"}),
        "advice": viewer.get(f"/api/problems/{OPEN_PRIVATE_PROBLEM}/advice"),
        "follow": viewer.post("/api/follows", {"target": "community", "value": "hr"}),
        "ask in it": viewer.post("/api/problems", {"title": "A pay question", "community": "hr"}),
    }
    refused = {name for name, text in answers.items() if text.startswith("[4")}
    if may_see:
        assert refused == set(), answers
    else:
        assert refused == set(answers), answers
        assert answers["comment"] == answers["feedback"] == "[404]"


def test_a_private_problem_is_routed_to_members_only_with_reasons_they_can_all_read(
    app: object,
) -> None:
    anna = Viewer(app, "anna.berg", via_token=True)
    advice = json.loads(anna.get(f"/api/problems/{OPEN_PRIVATE_PROBLEM}/advice"))
    suggested = [expert["id"] for expert in advice["experts"]["experts"]]
    assert suggested, "mateo.garcia solved the private case: he should be suggested"
    assert set(suggested) <= set(MEMBERS)
    refused = anna.post(f"/api/problems/{OPEN_PRIVATE_PROBLEM}/route", {"people": ["tomas.novak"]})
    assert refused.startswith("[4")
    routed = anna.post(f"/api/problems/{OPEN_PRIVATE_PROBLEM}/route", {"people": ["mateo.garcia"]})
    assert "mateo.garcia" in routed
    # An open problem about payroll: the reasons never name a case of `hr`, which not
    # everyone reading the open problem may see.
    tomas = Viewer(app, "tomas.novak", via_token=True)
    open_advice = tomas.get(f"/api/problems/{OPEN_CASE}/advice")
    assert PRIVATE_TITLE not in open_advice and OPEN_PRIVATE_TITLE not in open_advice


def test_followers_who_are_not_members_are_not_told_of_private_entries(app: object) -> None:
    database: Database = app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        for handle in ("tomas.novak", "mateo.garcia"):
            person = session.scalar(select(Person).where(Person.handle == handle))
            assert person is not None
            follow(session, person, "tag", "payroll")
    anna = Viewer(app, "anna.berg", via_token=True)
    posted = json.loads(
        anna.post(
            "/api/problems",
            {"title": "Payroll ignores my new tax class", "community": "hr", "tags": ["payroll"]},
        )
    )
    with database.session() as session:
        told = {
            n.person.handle
            for n in session.scalars(
                select(Notification).join(Entry).where(Entry.external_id == posted["id"])
            )
        }
    assert "mateo.garcia" in told and "tomas.novak" not in told


def test_the_console_and_search_log_keep_private_needs_among_those_who_may_see_them(
    app: object,
) -> None:
    anna = Viewer(app, "anna.berg", via_token=False)
    anna.get("/search", q="salary band for the new shift supervisors", community="hr")
    tutor = Viewer(app, "ines.moreau", via_token=False)
    console = tutor.get("/console")
    assert "Unanswered" in console or "unanswered" in console  # the page rendered
    assert OPEN_PRIVATE_TITLE not in console
    assert "salary band for the new shift supervisors" not in console
    assert tutor.get("/console", community="hr") == "[404]"
    admin = Viewer(app, "david.chen", via_token=False)
    assert OPEN_PRIVATE_TITLE in admin.get("/console")


@pytest.mark.parametrize("match_share", [0.0, None], ids=["no floor", "shipped floor"])
def test_filtering_happens_inside_retrieval_so_a_page_stays_full(
    private_home: Path, embedder: Embedder, match_share: float | None
) -> None:
    """The 25 private entries fill (nearly) the whole first page for a member; a
    non-member's page still holds 10 hits, none of them private, in each search mode.
    Without the relevance floor the ranking is deep enough for a full page of visible
    matches; with it (KB_MATCH_SHARE), fewer are matches, and they are the same for both."""
    floor = {} if match_share is None else {"match_share": match_share}
    settings = make_settings(private_home, **floor)
    database = Database.from_settings(settings)
    engine = SearchEngine.open(settings, database, embedder)
    try:
        with database.session() as session:
            outsider = session.scalar(select(Person).where(Person.handle == "tomas.novak"))
            member = session.scalar(select(Person).where(Person.handle == "anna.berg"))
            hidden = visibility_for(session, outsider)
            shown = visibility_for(session, member)
            hr_id = session.scalar(select(Community.id).where(Community.slug == "hr"))
        assert hidden.hidden_community_ids == {hr_id} and shown == Visibility()
        for mode in (SearchMode.DENSE, SearchMode.HYBRID, SearchMode.KEYWORD):
            as_member = engine.search(PAYROLL_QUERY, SearchFilters.seen_by(shown), mode=mode)
            private_on_page = [h.id for h in as_member.hits if h.community == "hr"]
            assert len(private_on_page) >= 8, (mode, private_on_page)
            # Everything a member finds, less the private cases, is what an outsider finds:
            # filtering loses no visible match, whatever ranked above it.
            everything = engine.search(PAYROLL_QUERY, SearchFilters.seen_by(shown), 200, mode=mode)
            visible = [h.id for h in everything.hits if h.community != "hr"]
            outside = engine.search(PAYROLL_QUERY, SearchFilters.seen_by(hidden), 200, mode=mode)
            assert sorted(h.id for h in outside.hits) == sorted(visible), mode
            first_page = engine.search(PAYROLL_QUERY, SearchFilters.seen_by(hidden), mode=mode)
            assert len(first_page.hits) == min(10, len(visible)), mode
            assert len(visible) >= (9 if match_share == 0.0 else 1), mode
            assert first_page.total == outside.total == len(visible), mode
            assert not [h.id for h in first_page.hits if h.community == "hr"]
    finally:
        engine.close()
        database.dispose()


def test_kb_community_commands_create_open_close_and_manage_members(
    demo_copy: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import use_home

    use_home(monkeypatch, demo_copy.home)
    runner = CliRunner()

    def kb(*args: str) -> str:
        result = runner.invoke(kb_main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "members-only community hr" in kb(
        "community", "create", "hr", "--name", "People & HR", "--private"
    )
    assert "tomas.novak is a member of hr" in kb("community", "add-member", "hr", "tomas.novak")
    listing = kb("community", "list")
    assert "hr" in listing and "members-only" in listing and "1 members" in listing
    assert "no longer a member" in kb("community", "remove-member", "hr", "tomas.novak")
    assert "is open" in kb("community", "set", "hr", "--open")
    again = runner.invoke(kb_main, ["community", "create", "hr", "--name", "Again"])
    assert again.exit_code != 0 and "exists already" in again.output
    nobody = runner.invoke(kb_main, ["community", "add-member", "hr", "no.such.person"])
    assert nobody.exit_code != 0 and "nobody is called" in nobody.output
    bad = runner.invoke(kb_main, ["community", "create", "a b", "--name", "Spaces"])
    assert bad.exit_code != 0 and "cannot be a community id" in bad.output


def test_an_imported_community_may_be_private_and_a_reimport_keeps_what_it_was(
    demo_copy: Settings, tmp_path: Path
) -> None:
    database = Database.from_settings(demo_copy)
    try:
        folder = tmp_path / "source"
        folder.mkdir()
        (folder / "organisation.yaml").write_text(
            "name: Test\ncommunities:\n  - id: board\n    name: Board\n    private: true\n"
            "  - id: maintenance\n    name: Maintenance technicians\n"
        )
        import_path(database, folder, demo_copy)
        with database.session() as session:
            board = session.scalar(select(Community).where(Community.slug == "board"))
            maintenance = session.scalar(select(Community).where(Community.slug == "maintenance"))
            assert board is not None and board.private
            assert maintenance is not None and not maintenance.private
            set_private(session, maintenance, True)
        import_path(database, folder, demo_copy)  # says nothing of privacy for maintenance
        with database.session() as session:
            maintenance = session.scalar(select(Community).where(Community.slug == "maintenance"))
            assert maintenance is not None and maintenance.private
    finally:
        database.dispose()


def test_managers_who_are_not_members_manage_members_without_reading_entries(
    app: object,
) -> None:
    elena = SignedIn(app, "elena.rossi")  # knowledge manager, not in hr
    page = elena.client.get("/communities/hr").text
    assert "Add a member" in page and PRIVATE_TITLE not in page
    form = {"csrf_token": elena.headers["X-CSRF-Token"], "handle": "tomas.novak", "member": "1"}
    done = elena.client.post("/communities/hr/members", data=form, follow_redirects=False)
    assert done.status_code == 303
    tomas = Viewer(app, "tomas.novak", via_token=True)
    assert PRIVATE_TITLE in tomas.get(f"/api/entries/{PRIVATE_CASE}")
    form["member"] = "0"
    elena.client.post("/communities/hr/members", data=form, follow_redirects=False)
    assert tomas.get(f"/api/entries/{PRIVATE_CASE}") == "[404]"
    # A worker can neither manage it nor learn that it exists.
    worker = SignedIn(app, "jonas.weber")
    form["csrf_token"] = worker.headers["X-CSRF-Token"]
    refused = worker.client.post("/communities/hr/members", data=form, follow_redirects=False)
    assert refused.status_code == 404
    api = worker.post("/api/communities/hr/members", {"person": "jonas.weber"})
    assert api.status_code == 404


def test_export_leaves_private_articles_out_unless_asked(
    private_home: Path, tmp_path: Path, app: object, ids: dict[str, str]
) -> None:
    from kb.export import export_repertoire

    database = Database.from_settings(make_settings(private_home))
    try:
        with database.session() as session:
            shared = export_repertoire(session, tmp_path / "shared")
            everything = export_repertoire(session, tmp_path / "all", include_private=True)
    finally:
        database.dispose()
    article_file = f"{ids['article']}.md"
    assert article_file not in {p.name for p in shared}
    assert article_file in {p.name for p in everything}
    assert len(everything) == len(shared) + 1


def test_escalation_of_a_private_problem_asks_only_its_own_tutors(
    demo_copy: Settings,
) -> None:
    from datetime import timedelta

    from kb.contributions import ask_problem
    from kb.entry_schema import EntryDraft
    from kb.escalation import escalate_overdue
    from kb.models import utcnow
    from kb.routing import AskedPerson, route_problem

    database = Database.from_settings(demo_copy)
    try:
        with database.session() as session:
            create_community(session, "hr", "People & HR", private=True)
            people = {p.handle: p for p in session.scalars(select(Person))}
            for handle in ("anna.berg", "mateo.garcia"):
                people[handle].communities = [*people[handle].communities, "hr"]
            session.commit()
            draft = EntryDraft("Holiday pay for part-time staff", "How is it worked out?")
            problem = ask_problem(session, people["anna.berg"], draft, "hr")
            past = utcnow() - timedelta(days=30)
            route_problem(
                session, people["anna.berg"], problem, [AskedPerson("mateo.garcia")], now=past
            )
            assert escalate_overdue(session, 7) == []  # hr has no tutor: nobody outside is asked
            people["julia.meyer"].communities = [*people["julia.meyer"].communities, "hr"]
            session.commit()
            escalated = escalate_overdue(session, 7)
            assert [r.person.handle for r in escalated] == ["julia.meyer"]
    finally:
        database.dispose()
