"""Notifications (kb.notifications, kb.follows, kb.notification_email): who is told of
each step of the loop, following, reading them in the inbox and the API, and e-mail
(immediately, or a digest from `kb digest`) against a real SMTP server on loopback.

Real SQLite files (or PostgreSQL with KB_TEST_DATABASE_URL); nothing of ours is mocked."""

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from kb.accounts import Role, add_user
from kb.contributions import accept_solution, add_solution, ask_problem
from kb.database import Database
from kb.entry_schema import EntryDraft
from kb.errors import InvalidContribution
from kb.follows import follow, followers, is_following, unfollow
from kb.models import Community, EmailSetting, FollowTarget, Notification, Person
from kb.notifications import (
    count_of,
    mark_read,
    notifications_of,
    notify_followers,
    set_email_setting,
)
from kb.routing import AskedPerson, decline, pass_to, route_problem, take
from kb.settings import Settings


@dataclass
class Cast:
    asker: Person
    helper: Person
    other: Person
    watcher: Person
    manager: Person


@pytest.fixture
def loop(database: Database, settings: Settings) -> Database:
    """The database with notifications subscribed, as both composition roots do."""
    notify_followers(database.subscribers, settings, database)
    return database


@pytest.fixture
def cast(loop: Database) -> Cast:
    with loop.session() as session:
        people = [
            add_user(session, handle, [Role.WORKER], None, name=handle.title())[0]
            for handle in ("asker", "helper", "other", "watcher")
        ]
        manager, _ = add_user(session, "manager", [Role.KNOWLEDGE_MANAGER], None)
        session.add(Community(slug="maintenance", name="Maintenance"))
        session.commit()
        return Cast(*people, manager)


def told(database: Database, person: Person) -> list[tuple[str, str | None]]:
    """(kind, actor handle) of a person's notifications, oldest first."""
    with database.session() as session:
        rows = notifications_of(session, session.merge(person))
        return [(row.kind, row.actor.handle if row.actor else None) for row in reversed(rows)]


def ask(database: Database, person: Person, title: str = "Pump seal leaks", **draft: object):  # type: ignore[no-untyped-def]
    with database.session() as session:
        return ask_problem(
            session,
            session.merge(person),
            EntryDraft(title, str(draft.get("body", "")), list(draft.get("tags", []))),  # type: ignore[call-overload]
            draft.get("community"),  # type: ignore[arg-type]
        )


def solve(database: Database, person: Person, problem_id: int):  # type: ignore[no-untyped-def]
    from kb.models import Entry

    with database.session() as session:
        problem = session.get(Entry, problem_id)
        assert problem is not None
        return add_solution(session, session.merge(person), problem, EntryDraft("", "Tighten."))


def test_the_asker_follows_their_problem_and_hears_of_each_solution(
    loop: Database, cast: Cast
) -> None:
    problem = ask(loop, cast.asker)
    with loop.session() as session:
        assert is_following(session, cast.asker, FollowTarget.PROBLEM, str(problem.id))
    solve(loop, cast.helper, problem.id)
    assert told(loop, cast.asker) == [("solution_posted", "helper")]
    assert told(loop, cast.helper) == []  # not told of their own solution


def test_followers_of_a_problem_hear_of_solutions_and_acceptance(
    loop: Database, cast: Cast
) -> None:
    problem = ask(loop, cast.asker)
    with loop.session() as session:
        follow(session, cast.watcher, "problem", problem.external_id)
    solution = solve(loop, cast.helper, problem.id)
    with loop.session() as session:
        accept_solution(session, session.merge(cast.asker), session.merge(solution))
    assert told(loop, cast.watcher) == [
        ("solution_posted", "helper"),
        ("solution_accepted", "asker"),
    ]
    assert told(loop, cast.helper) == [("solution_accepted", "asker")]  # their solution
    # The asker accepted it: told of the solution, not of their own acceptance.
    assert told(loop, cast.asker) == [("solution_posted", "helper")]


def test_a_knowledge_manager_accepting_tells_the_asker(loop: Database, cast: Cast) -> None:
    problem = ask(loop, cast.asker)
    solution = solve(loop, cast.helper, problem.id)
    with loop.session() as session:
        accept_solution(session, session.merge(cast.manager), session.merge(solution))
    assert told(loop, cast.asker)[-1] == ("solution_accepted", "manager")
    assert told(loop, cast.manager) == []


def test_the_asker_hears_when_their_request_is_taken_declined_or_passed(
    loop: Database, cast: Cast
) -> None:
    problem = ask(loop, cast.asker)
    with loop.session() as session:
        asker = session.merge(cast.asker)
        problem = session.merge(problem)
        to_helper, to_other = route_problem(
            session, asker, problem, [AskedPerson("helper"), AskedPerson("other")]
        )
        take(session, session.merge(cast.helper), to_helper)
        decline(session, session.merge(cast.other), to_other, "on holiday")
        pass_to(session, session.merge(cast.helper), to_helper, "watcher")
    assert told(loop, cast.asker) == [
        ("request_taken", "helper"),
        ("request_declined", "other"),
        ("request_passed", "helper"),
    ]
    with loop.session() as session:
        texts = [row.text for row in notifications_of(session, session.merge(cast.asker))]
    assert texts[-1] == "Helper took your problem “Pump seal leaks”"
    assert told(loop, cast.helper) == [] and told(loop, cast.other) == []


def test_a_new_problem_reaches_followers_of_its_tag_community_and_author(
    loop: Database, cast: Cast
) -> None:
    with loop.session() as session:
        follow(session, cast.watcher, "tag", "Pumps")  # tidied as tags are: "pumps"
        follow(session, cast.helper, "community", "maintenance")
        follow(session, cast.other, "person", "asker")
        follow(session, cast.manager, "tag", "valves")
        # Following several of a problem's things still makes one notification.
        follow(session, cast.other, "community", "maintenance")
        follow(session, cast.asker, "community", "maintenance")
    ask(loop, cast.asker, "Seal leaks on P-3", tags=["pumps", "seals"], community="maintenance")
    for person in (cast.watcher, cast.helper, cast.other):
        assert told(loop, person) == [("problem_asked", "asker")]
    assert told(loop, cast.manager) == []
    assert told(loop, cast.asker) == []  # follows the community, but it is their own problem


def test_nobody_is_told_of_their_own_action(loop: Database, cast: Cast) -> None:
    with loop.session() as session:
        follow(session, cast.asker, "community", "maintenance")
        follow(session, cast.helper, "person", "asker")
    problem = ask(loop, cast.asker, community="maintenance")
    solve(loop, cast.asker, problem.id)  # the asker answers their own problem
    assert told(loop, cast.asker) == []
    assert told(loop, cast.helper) == [("problem_asked", "asker")]


def test_follow_and_unfollow(loop: Database, cast: Cast) -> None:
    problem = ask(loop, cast.asker)
    with loop.session() as session:
        watcher = session.merge(cast.watcher)
        follow(session, watcher, "problem", problem.external_id)
        follow(session, watcher, "problem", problem.external_id)  # twice: still one
        pair = (FollowTarget.PROBLEM, str(problem.id))
        assert followers(session, [pair]) == {cast.asker.id, cast.watcher.id}
        assert unfollow(session, watcher, "problem", problem.external_id) is True
        assert unfollow(session, watcher, "problem", problem.external_id) is False
        assert followers(session, [pair]) == {cast.asker.id}
    solve(loop, cast.helper, problem.id)
    assert told(loop, cast.watcher) == []


@pytest.mark.parametrize(
    ("target", "value", "reason"),
    [
        ("problem", "no-such-problem", "no problem has the id"),
        ("community", "nowhere", "no community is called"),
        ("person", "nobody", "nobody is called"),
        ("person", "watcher", "cannot follow yourself"),
        ("tag", "   ", "name the tag"),
        ("tag", "x" * 41, "is not usable"),
        ("planet", "mars", "one can follow a problem, tag, community, person"),
    ],
)
def test_following_nothing_is_refused_with_a_reason(
    loop: Database, cast: Cast, target: str, value: str, reason: str
) -> None:
    with loop.session() as session, pytest.raises(InvalidContribution, match=reason):
        follow(session, cast.watcher, target, value)


def test_marking_read(loop: Database, cast: Cast) -> None:
    first, second = ask(loop, cast.asker, "First"), ask(loop, cast.asker, "Second")
    solve(loop, cast.helper, first.id)
    solve(loop, cast.helper, second.id)
    with loop.session() as session:
        asker, other = session.merge(cast.asker), session.merge(cast.other)
        newest, oldest = notifications_of(session, asker)
        assert "Second" in newest.text  # newest first
        assert count_of(session, asker, unread_only=True) == 2
        assert mark_read(session, other, [oldest.id]) == 0  # not theirs to mark
        assert mark_read(session, asker, [oldest.id]) == 1
        assert count_of(session, asker, unread_only=True) == 1
        assert mark_read(session, asker) == 1
        assert mark_read(session, asker) == 0
        assert count_of(session, asker, unread_only=True) == 0
        assert count_of(session, asker) == 2


def test_email_settings(loop: Database, cast: Cast) -> None:
    with loop.session() as session:
        asker = session.merge(cast.asker)
        assert asker.notification_email == EmailSetting.IMMEDIATELY  # the default
        set_email_setting(session, asker, "weekly")
    with loop.session() as session:
        asker = session.get(Person, cast.asker.id)
        assert asker is not None and asker.notification_email == "weekly"
        with pytest.raises(InvalidContribution, match="immediately, daily, weekly, off"):
            set_email_setting(session, asker, "hourly")


# -- e-mail, against a real SMTP server on loopback ------------------------------------


class MailCollector:
    def __init__(self) -> None:
        self.envelopes: list[object] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[tuple[list[str], email.message.EmailMessage]]:
        return [
            (
                envelope.rcpt_tos,  # type: ignore[attr-defined]
                email.message_from_bytes(envelope.content, policy=email.policy.default),  # type: ignore[attr-defined, arg-type]
            )
            for envelope in self.envelopes
        ]


@pytest.fixture
def smtp() -> Iterator[tuple[MailCollector, int]]:
    from aiosmtpd.controller import Controller

    from tests.web_helpers import free_port

    collector = MailCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield collector, controller.port
    finally:
        controller.stop()


def mailing_database(settings: Settings, port: int) -> tuple[Database, Settings]:
    """A database whose writes notify and e-mail, as the composition roots wire them."""
    from kb.notification_email import email_notifications
    from tests.conftest import make_settings

    mailing = make_settings(settings.home, smtp_host="127.0.0.1", smtp_port=port)
    database = Database.from_settings(mailing)
    database.create_schema()
    notify_followers(database.subscribers, mailing, database)
    email_notifications(database.subscribers, mailing, database)
    return database, mailing


def with_addresses(database: Database, settings: dict[str, str]) -> dict[str, Person]:
    with database.session() as session:
        people = {}
        for handle, setting in settings.items():
            person, _ = add_user(session, handle, [Role.WORKER], None, email=f"{handle}@x.example")
            set_email_setting(session, person, setting)
            people[handle] = person
        return people


def test_immediately_people_get_one_email_per_notification(
    settings: Settings, smtp: tuple[MailCollector, int]
) -> None:
    collector, port = smtp
    database, _ = mailing_database(settings, port)
    people = with_addresses(
        database, {"asker": "immediately", "daily": "daily", "quiet": "off", "helper": "off"}
    )
    problem = ask(database, people["asker"])
    with database.session() as session:
        for handle in ("daily", "quiet"):
            follow(session, session.merge(people[handle]), "problem", problem.external_id)
    solve(database, people["helper"], problem.id)
    messages = collector.messages()
    assert [to for to, _ in messages] == [["asker@x.example"]]
    message = messages[0][1]
    assert message["Subject"] == "[kb] helper posted a solution to “Pump seal leaks”"
    assert f"/entries/{problem.external_id}" in message.get_body().get_content()  # type: ignore[union-attr]
    with database.session() as session:
        emailed = {
            row.person_id: row.emailed_at is not None
            for row in session.scalars(select(Notification))
        }
    assert emailed == {
        people["asker"].id: True,
        people["daily"].id: False,
        people["quiet"].id: False,
    }
    database.dispose()


def test_an_unreachable_mail_server_keeps_the_notification(settings: Settings) -> None:
    from tests.web_helpers import free_port

    database, _ = mailing_database(settings, free_port())  # nobody listens there
    people = with_addresses(database, {"asker": "immediately", "helper": "off"})
    problem = ask(database, people["asker"])
    solve(database, people["helper"], problem.id)
    with database.session() as session:
        (row,) = session.scalars(select(Notification))
        assert row.person_id == people["asker"].id and row.emailed_at is None
    database.dispose()


def run_digest(settings: Settings, port: int, period: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from kb.cli import main
    from tests.conftest import kb_env

    env = {**kb_env(settings.home), "KB_SMTP_HOST": "127.0.0.1", "KB_SMTP_PORT": str(port)}
    result = CliRunner().invoke(main, ["digest", "--period", period], env=env)
    return result.exit_code, result.output


def test_kb_digest_sends_each_period_once_and_then_nothing_new(
    settings: Settings, smtp: tuple[MailCollector, int]
) -> None:
    collector, port = smtp
    database, _ = mailing_database(settings, port)
    people = with_addresses(
        database,
        {
            "asker": "daily",
            "weekly": "weekly",
            "now": "immediately",
            "quiet": "off",
            "helper": "off",
        },
    )
    first, second = (
        ask(database, people["asker"], "First"),
        ask(database, people["asker"], "Second"),
    )
    with database.session() as session:
        for handle in ("weekly", "now", "quiet"):
            follow(session, session.merge(people[handle]), "problem", first.external_id)
    solve(database, people["helper"], first.id)
    solve(database, people["helper"], second.id)
    immediate = len(collector.envelopes)
    assert immediate == 1  # "now" was e-mailed at once; nobody else was
    database.dispose()

    code, output = run_digest(settings, port, "daily")
    assert code == 0, output
    assert "asker: 2 notification(s)" in output and "Sent 1 daily digest(s)." in output
    ((to, message),) = collector.messages()[immediate:]
    assert to == ["asker@x.example"]
    assert message["Subject"] == "[kb] 2 things happened"
    body = message.get_body().get_content()  # type: ignore[union-attr]
    assert "posted a solution to “First”" in body and "posted a solution to “Second”" in body

    code, output = run_digest(settings, port, "daily")  # again: nothing new
    assert code == 0 and "Sent 0 daily digest(s)." in output
    assert len(collector.envelopes) == immediate + 1

    code, output = run_digest(settings, port, "weekly")
    assert code == 0 and "weekly: 1 notification(s)" in output
    assert collector.messages()[-1][0] == ["weekly@x.example"]
    code, output = run_digest(settings, port, "weekly")
    assert "Sent 0 weekly digest(s)." in output
    assert len(collector.envelopes) == immediate + 2  # "quiet" (off) never got one


def test_a_digest_leaves_out_what_was_read_in_the_inbox(
    settings: Settings, smtp: tuple[MailCollector, int]
) -> None:
    collector, port = smtp
    database, _ = mailing_database(settings, port)
    people = with_addresses(database, {"asker": "daily", "helper": "off"})
    problem = ask(database, people["asker"])
    solve(database, people["helper"], problem.id)
    with database.session() as session:
        mark_read(session, session.merge(people["asker"]))
    database.dispose()
    code, output = run_digest(settings, port, "daily")
    assert code == 0 and "Sent 0 daily digest(s)." in output
    assert collector.envelopes == []


def test_kb_digest_fails_loudly_when_the_mail_server_is_down(settings: Settings) -> None:
    from tests.web_helpers import free_port

    database, _ = mailing_database(settings, free_port())
    people = with_addresses(database, {"asker": "daily", "helper": "off"})
    problem = ask(database, people["asker"])
    solve(database, people["helper"], problem.id)
    database.dispose()
    code, output = run_digest(settings, free_port(), "daily")
    assert code == 1 and "will be sent by the next run" in output
    database = Database.from_settings(settings)
    with database.session() as session:
        (row,) = session.scalars(select(Notification))
        assert row.emailed_at is None
    database.dispose()


def test_kb_digest_needs_a_mail_server_and_explains_itself(settings: Settings) -> None:
    from click.testing import CliRunner

    from kb.cli import main
    from tests.conftest import kb_env

    help_text = CliRunner().invoke(main, ["digest", "--help"]).output
    assert "Running it again sends nothing new" in help_text and "cron" in help_text
    result = CliRunner().invoke(main, ["digest", "--period", "daily"], env=kb_env(settings.home))
    assert result.exit_code == 1 and "KB_SMTP_HOST is not set" in result.output
    result = CliRunner().invoke(main, ["digest", "--period", "hourly"], env=kb_env(settings.home))
    assert result.exit_code == 2


# -- the inbox page, the header's count, Follow buttons and the API --------------------


@pytest.fixture
def app(demo_people: Settings) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(demo_people)) as client:
        yield client.app


LATHE = {
    "title": "Our lathe halts with a drive alarm once it has warmed up",
    "body": "Cold in the morning it runs fine; after an hour the X axis drive faults.",
    "community": "maintenance",
}


def asked_and_answered(app: object) -> tuple[object, object, str]:
    """tomas asks; marta posts a solution. Returns both sessions and the problem's id."""
    from tests.web_helpers import SignedIn

    tomas, marta = SignedIn(app, "tomas.novak"), SignedIn(app, "marta.kowalski")
    asked = tomas.post("/api/problems", LATHE)
    assert asked.status_code == 201, asked.text
    problem = str(asked.json()["id"])
    solved = marta.post(f"/api/problems/{problem}/solutions", {"body": "Clean the drive's fan."})
    assert solved.status_code == 201, solved.text
    return tomas, marta, problem


def unread_badge(html: str) -> str | None:
    import re

    match = re.search(r'class="inbox-link"[^>]*>Inbox(?: <span class="unread">(\d+)</span>)?', html)
    assert match, "no inbox link in the header"
    return match.group(1)


def test_the_inbox_lists_notifications_newest_first_and_marks_them_read_once_seen(
    app: object,
) -> None:
    tomas, _marta, problem = asked_and_answered(app)
    client = tomas.client  # type: ignore[attr-defined]
    before = unread_badge(client.get("/").text)
    assert before is not None and int(before) >= 1

    page = client.get("/inbox").text
    assert 'id="notifications"' in page
    assert "Marta Kowalski posted a solution to" in page
    assert 'class="notification kind-solution_posted is-unread"' in page
    assert unread_badge(client.get("/").text) == (str(int(before) - 1) if int(before) > 1 else None)
    again = client.get("/inbox").text
    assert "kind-solution_posted is-unread" not in again  # seen: no longer new

    listed = client.get("/api/notifications").json()
    assert listed["items"][0]["entry"] == problem and listed["items"][0]["read"] is True
    assert listed["unread"] == 0


def test_follow_and_unfollow_a_problem_from_its_page(app: object) -> None:
    from tests.web_helpers import SignedIn, csrf_from

    tomas = SignedIn(app, "tomas.novak")
    problem = str(tomas.post("/api/problems", LATHE).json()["id"])
    priya = SignedIn(app, "priya.nair")
    page = priya.client.get(f"/entries/{problem}").text
    assert "Follow this problem" in page and "Unfollow this problem" not in page
    form = {
        "csrf_token": csrf_from(page),
        "target": "problem",
        "value": problem,
        "next": f"/entries/{problem}",
    }
    followed = priya.client.post("/follows", data=form, follow_redirects=False)
    assert followed.status_code == 303 and followed.headers["location"] == f"/entries/{problem}"
    assert "Unfollow this problem" in priya.client.get(f"/entries/{problem}").text

    marta = SignedIn(app, "marta.kowalski")
    marta.post(f"/api/problems/{problem}/solutions", {"body": "Clean the drive's fan."})
    kinds = [item["kind"] for item in priya.client.get("/api/notifications").json()["items"]]
    assert kinds == ["solution_posted"]

    unfollowed = priya.client.post(
        "/follows", data={**form, "action": "unfollow"}, follow_redirects=False
    )
    assert unfollowed.status_code == 303
    assert "Follow this problem" in priya.client.get(f"/entries/{problem}").text
    # No CSRF token: refused, nothing changes.
    refused = priya.client.post("/follows", data={**form, "csrf_token": "forged"})
    assert refused.status_code == 403
    # Somewhere else to go back to is not followed.
    away = priya.client.post(
        "/follows", data={**form, "next": "//evil.example/"}, follow_redirects=False
    )
    assert away.headers["location"] == "/"


def test_follow_buttons_on_people_communities_and_tag_searches(app: object) -> None:
    from tests.web_helpers import SignedIn

    priya = SignedIn(app, "priya.nair")
    assert "Follow Tomás Novák" in priya.client.get("/people/tomas.novak").text
    assert "Follow Maintenance" in priya.client.get("/communities/maintenance").text
    assert "Follow new problems tagged cnc" in priya.client.get("/search?q=alarm&tag=cnc").text
    own = priya.client.get("/people/priya.nair").text
    assert 'action="/follows"' not in own  # nobody follows themselves
    anonymous = priya.client.__class__(app)  # type: ignore[call-arg]
    assert 'action="/follows"' not in anonymous.get("/communities/maintenance").text


def test_api_notifications_needs_a_person_and_takes_a_token(app: object) -> None:
    from fastapi.testclient import TestClient

    from kb.accounts import create_token

    tomas, _marta, problem = asked_and_answered(app)
    anonymous = TestClient(app)  # type: ignore[arg-type]
    assert anonymous.get("/api/notifications").status_code == 401
    assert anonymous.post("/api/notifications/read", json={}).status_code == 401

    database = app.state.database  # type: ignore[attr-defined]
    with database.session() as session:
        person = session.scalar(select(Person).where(Person.handle == "tomas.novak"))
        _token, plain = create_token(session, person, label="test")
    bearer = {"Authorization": f"Bearer {plain}"}
    listed = anonymous.get("/api/notifications", headers=bearer)
    assert listed.status_code == 200
    body = listed.json()
    assert body["items"][0]["kind"] == "solution_posted"
    assert body["items"][0]["actor"] == "marta.kowalski" and body["items"][0]["read"] is False
    first = body["items"][0]["id"]

    # With the session cookie a write needs the CSRF header; the token needs none.
    cookie_only = tomas.client.post("/api/notifications/read", json={"ids": [first]})  # type: ignore[attr-defined]
    assert cookie_only.status_code == 403
    marked = anonymous.post("/api/notifications/read", json={"ids": [first]}, headers=bearer)
    assert marked.status_code == 200 and marked.json()["marked"] == 1
    assert anonymous.get("/api/notifications", headers=bearer).json()["items"][0]["read"] is True
    bad = anonymous.get("/api/notifications", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


def test_api_notifications_pages_and_refuses_bad_input_with_reasons(app: object) -> None:
    from tests.web_helpers import SignedIn

    tomas = SignedIn(app, "tomas.novak")
    marta = SignedIn(app, "marta.kowalski")
    problems = [
        tomas.post("/api/problems", {**LATHE, "title": f"{LATHE['title']} ({n})"}).json()["id"]
        for n in range(3)
    ]
    for problem in problems:
        marta.post(f"/api/problems/{problem}/solutions", {"body": "Clean the drive's fan."})
    everything = tomas.client.get("/api/notifications").json()
    ids = [item["id"] for item in everything["items"]]
    assert everything["total"] == len(ids) >= 3
    assert [item["entry"] for item in everything["items"][:3]] == problems[::-1]  # newest first
    page = tomas.client.get("/api/notifications?limit=1&offset=1").json()
    assert [item["id"] for item in page["items"]] == ids[1:2]
    assert page["limit"] == 1 and page["offset"] == 1 and page["total"] == len(ids)

    for query in ("limit=0", "limit=201", "offset=-1", "limit=many"):
        response = tomas.client.get(f"/api/notifications?{query}")
        assert response.status_code == 422, query
        assert response.json()["error"]["message"]
    for payload in ({"ids": [0]}, {"ids": "all"}, {"ids": [2**40]}):
        response = tomas.post("/api/notifications/read", payload)
        assert response.status_code == 422, payload
    refused = tomas.post("/api/follows", {"target": "planet", "value": "mars"})
    assert refused.status_code == 422 and "target" in refused.json()["error"]["message"]
    missing = tomas.post("/api/follows", {"target": "problem", "value": "no-such-problem"})
    assert missing.status_code == 422
    assert "no problem has the id" in missing.json()["error"]["message"]
    followed = tomas.post("/api/follows", {"target": "tag", "value": "cnc"})
    assert followed.status_code == 200 and followed.json()["following"] is True
    assert tomas.post("/api/follows/remove", {"target": "tag", "value": "cnc"}).json() == {
        "target": "tag",
        "value": "cnc",
        "following": False,
    }


def test_the_email_setting_in_the_inbox_and_the_api(app: object) -> None:
    from tests.web_helpers import SignedIn, csrf_from

    tomas = SignedIn(app, "tomas.novak")
    page = tomas.client.get("/inbox").text
    assert '<option value="immediately" selected>' in page
    saved = tomas.client.post(
        "/me/notification-email",
        data={"csrf_token": csrf_from(page), "setting": "weekly"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert '<option value="weekly" selected>' in tomas.client.get("/inbox").text
    bad = tomas.client.post(
        "/me/notification-email", data={"csrf_token": csrf_from(page), "setting": "hourly"}
    )
    assert bad.status_code == 422 and "immediately, daily, weekly, off" in bad.text
    assert tomas.client.put("/api/me/notification-email", json={"email": "off"}).status_code == 403
    put = tomas.client.put(
        "/api/me/notification-email", json={"email": "daily"}, headers=tomas.headers
    )
    assert put.status_code == 200 and put.json() == {"email": "daily"}
    wrong = tomas.client.put(
        "/api/me/notification-email", json={"email": "hourly"}, headers=tomas.headers
    )
    assert wrong.status_code == 422


def test_the_app_emails_immediately_people_when_smtp_is_set(
    demo_people: Settings, smtp: tuple[MailCollector, int]
) -> None:
    """create_app wires notifications and their e-mail, as kb.cli.context does."""
    from fastapi.testclient import TestClient

    from tests.conftest import make_settings
    from web.app import create_app

    collector, port = smtp
    database = Database.from_settings(demo_people)
    with database.session() as session:
        tomas = session.scalar(select(Person).where(Person.handle == "tomas.novak"))
        assert tomas is not None
        tomas.email = "tomas@brightwater.example"
        session.commit()
    database.dispose()
    settings = make_settings(demo_people.home, smtp_host="127.0.0.1", smtp_port=port)
    with TestClient(create_app(settings)) as client:
        _tomas, _marta, problem = asked_and_answered(client.app)
    sent = [
        (to, message)
        for to, message in collector.messages()
        if "[kb] Asked" not in str(message["Subject"])
    ]
    assert [to for to, _ in sent] == [["tomas@brightwater.example"]]
    assert sent[0][1]["Subject"].startswith("[kb] Marta Kowalski posted a solution to")
    assert f"/entries/{problem}" in sent[0][1].get_body().get_content()  # type: ignore[union-attr]


# -- in Chromium, against a real `kb serve` --------------------------------------------


@pytest.fixture(scope="module")
def base_url(demo_people_home: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from pathlib import Path

    from tests.conftest import copy_home
    from tests.web_helpers import running_server

    home = tmp_path_factory.mktemp("notifications-browser") / "kb-home"
    copy_home(Path(str(demo_people_home)), home)
    with running_server(home, KB_PUBLIC_READ="1") as base:
        yield base


def test_follow_a_problem_and_read_its_notifications_in_chromium_on_a_phone(
    browser: object, base_url: str
) -> None:
    from playwright.sync_api import Browser, Page, expect

    from tests.web_helpers import browser_sign_in

    assert isinstance(browser, Browser)

    def signed_in(handle: str, width: int, height: int) -> Page:
        context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": height}
        )
        page = context.new_page()
        browser_sign_in(page, handle)
        return page

    leon = signed_in("leon.fischer", 1280, 900)
    leon.goto("/ask")
    leon.fill("#ask-title", "Compressor C2 trips on overcurrent at every start")
    leon.fill("#ask-body", "Since Monday the C2 compressor trips a second after starting.")
    leon.select_option("#community", "maintenance")
    leon.click("#ask-submit")
    expect(leon.locator("#follow button")).to_have_text("Unfollow this problem")  # the asker's
    problem_url = leon.url

    priya = signed_in("priya.nair", 390, 844)  # a phone
    priya.goto(problem_url)
    priya.locator("#follow button").click()
    expect(priya.locator("#follow button")).to_have_text("Unfollow this problem")
    expect(priya.locator("#follow button")).to_have_attribute("aria-pressed", "true")

    marta = signed_in("marta.kowalski", 1280, 900)
    marta.goto(problem_url)
    marta.fill(
        "#solution-form textarea", "The soft starter's ramp was reset to 0 s; set it to 5 s."
    )
    marta.click("#solution-form button[type=submit]")
    expect(marta.locator("article.solution")).to_contain_text("soft starter")

    for page in (leon, priya):
        page.goto("/")
        expect(page.locator("a.inbox-link .unread")).to_be_visible()
        page.goto("/inbox")
        note = page.locator("li.notification.is-unread", has_text="posted a solution to")
        expect(note).to_have_count(1)
        expect(note.locator("a")).to_have_attribute("href", problem_url)
    # Neither the page (tests/test_mobile.py checks every page) nor what notifications
    # add to it scrolls sideways at 390 px.
    assert priya.evaluate("document.documentElement.scrollWidth <= innerWidth")
    overflowing = """selector => [...document.querySelectorAll(selector)]
        .filter(element => element.scrollWidth > element.clientWidth).length"""
    for selector in ("li.notification", ".email-setting", ".notification-list"):
        assert priya.evaluate(overflowing, selector) == 0, selector
    print(
        "\n390 px: page width",
        priya.evaluate("document.documentElement.scrollWidth"),
        "inbox list width",
        priya.evaluate("document.querySelector('.notification-list').clientWidth"),
    )
    priya.goto(problem_url)
    assert priya.evaluate(overflowing, ".follows") == 0
    priya.goto("/inbox")
    expect(priya.locator("li.notification.is-unread")).to_have_count(0)  # seen before
