"""Outgoing webhooks (kb.webhooks, kb.webhook_events, kb.webhook_delivery, `kb webhook`):
against real HTTP receivers on loopback, writes through the real services, real SQLite
files (or PostgreSQL with KB_TEST_DATABASE_URL), and one real `kb serve`.

Retry delays and timeouts are short settings here, so that backoff takes a second."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kb.accounts import Role, add_user, create_token
from kb.cli import main
from kb.contributions import accept_solution, add_solution, ask_problem
from kb.database import Database
from kb.entry_schema import EntryDraft
from kb.errors import InvalidContribution
from kb.models import (
    Community,
    DeliveryStatus,
    Entry,
    Person,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from kb.repertoire import promote_to_article
from kb.reviews import announce_due_reviews, flag_for_review, record_review
from kb.routing import AskedPerson, route_problem
from kb.settings import Settings
from kb.webhook_delivery import Deliverer, deliver_all_due, deliver_due
from kb.webhook_events import queue_event, queue_webhook_deliveries
from kb.webhooks import add_webhook, set_active
from tests.conftest import kb_env, make_settings
from tests.web_helpers import running_server

SECRET = "a-test-secret-of-some-length"
# The settings the tests run with, also given to `kb` commands and `kb serve`.
FAST = {
    "KB_WEBHOOK_RETRY_SECONDS": "0.2",
    "KB_WEBHOOK_TIMEOUT_SECONDS": "1",
    "KB_WEBHOOK_MAX_ATTEMPTS": "3",
    "KB_WEBHOOK_POLL_SECONDS": "0.2",
    "KB_PUBLIC_URL": "https://kb.example.org/",
}


# -- a real receiver -------------------------------------------------------------------


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, object]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """An HTTP server on loopback that records every POST and answers with the next of
    `answers` (200 once they run out); while `hold` is clear it keeps each request
    waiting (a receiver that hangs)."""

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            assert len(self.received) >= count, f"{len(self.received)} of {count} arrived"
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    state.hold.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.arrived:
                state.received.append(Received(time.monotonic(), dict(self.headers), body))
                code = state.answers.pop(0) if state.answers else 200
                state.arrived.notify_all()
            state.hold.wait(20)
            time.sleep(state.delay)
            try:
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.hold.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- the knowledge base ----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Short retries (0.2 s, then 0.8 s), a 1 s timeout, 3 attempts."""
    return make_settings(
        tmp_path / "kb-home",
        webhook_retry_seconds=0.2,
        webhook_timeout_seconds=1.0,
        webhook_max_attempts=3,
        webhook_poll_seconds=0.2,
        public_url="https://kb.example.org/",
    )


@pytest.fixture
def hooked(database: Database, settings: Settings) -> Database:
    """The database with the webhook subscriber, as both composition roots subscribe it;
    nothing sends until a test says so."""
    queue_webhook_deliveries(database.subscribers, settings, database)
    return database


@dataclass
class Cast:
    asker: Person
    helper: Person
    manager: Person


@pytest.fixture
def cast(hooked: Database) -> Cast:
    with hooked.session() as session:
        asker, _ = add_user(session, "asker", [Role.WORKER], None, name="Ada Asker")
        helper, _ = add_user(session, "helper", [Role.WORKER], None, name="Hal Helper")
        manager, _ = add_user(session, "manager", [Role.KNOWLEDGE_MANAGER], None)
        session.add(Community(slug="maintenance", name="Maintenance"))
        session.commit()
        return Cast(asker, helper, manager)


def hook(
    database: Database,
    url: str,
    *events: str,
    secret: str = SECRET,
    communities: list[str] | None = None,
) -> int:
    with database.session() as session:
        return add_webhook(session, url, list(events), secret, communities=communities).id


def ask(database: Database, person: Person, title: str = "Pump seal leaks") -> Entry:
    with database.session() as session:
        draft = EntryDraft(title, "Drips after a restart.", ["pumps"])
        return ask_problem(session, session.merge(person), draft, "maintenance")


def solve(database: Database, person: Person, problem: Entry) -> Entry:
    with database.session() as session:
        draft = EntryDraft("", "Tighten the gland nut.", [])
        return add_solution(session, session.merge(person), session.merge(problem), draft)


def accept(database: Database, person: Person, solution: Entry) -> None:
    with database.session() as session:
        accept_solution(session, session.merge(person), session.merge(solution))


def rows(database: Database) -> list[WebhookDelivery]:
    with database.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def verified(received: Received, secret: str) -> bool:
    """How a receiver checks a delivery (docs/webhooks.md has the same few lines)."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers["X-KB-Signature-256"])


@pytest.fixture
def deliverer(hooked: Database, settings: Settings) -> Iterator[Deliverer]:
    """The background deliverer, as `kb serve` runs it."""
    running = Deliverer(hooked, settings)
    running.start()
    yield running
    running.stop()


# -- what is sent ----------------------------------------------------------------------


def test_a_write_queues_one_signed_delivery_that_says_what_happened(
    hooked: Database, settings: Settings, cast: Cast, receiver: Receiver
) -> None:
    webhook_id = hook(hooked, receiver.url, "entry.created")
    problem = ask(hooked, cast.asker)
    # The write called nobody: it left exactly one row for the deliverer.
    (row,) = rows(hooked)
    assert (row.webhook_id, row.event, row.status, row.attempts) == (
        webhook_id,
        "entry.created",
        "pending",
        0,
    )
    assert receiver.received == []

    assert [outcome.status for outcome in deliver_due(hooked, settings)] == ["delivered"]
    (received,) = receiver.wait_for(1)
    assert verified(received, SECRET)
    assert not verified(received, SECRET + "x")
    tampered = Received(received.at, received.headers, received.body.replace(b"Pump", b"Pomp"))
    assert not verified(tampered, SECRET)
    assert received.headers["X-KB-Event"] == "entry.created"
    assert received.headers["X-KB-Delivery"] == str(row.id)
    assert received.headers["Content-Type"] == "application/json"
    payload = received.payload
    assert payload["event"] == "entry.created"
    assert payload["actor"] == {"handle": "asker", "name": "Ada Asker"}
    assert payload["entry"] == {
        "id": problem.external_id,
        "kind": "problem",
        "title": "Pump seal leaks",
        "status": "open",
        "community": "maintenance",
        "tags": ["pumps"],
        "author": {"handle": "asker", "name": "Ada Asker"},
        "url": f"https://kb.example.org/entries/{problem.external_id}",
    }
    assert str(payload["occurred_at"]).endswith("Z")
    (delivered,) = rows(hooked)
    assert (delivered.status, delivered.attempts, delivered.last_status_code) == (
        "delivered",
        1,
        200,
    )
    assert delivered.delivered_at is not None
    assert deliver_due(hooked, settings) == []  # delivered once, not again


def test_each_webhook_gets_only_the_events_it_chose(
    hooked: Database, settings: Settings, cast: Cast, receiver: Receiver
) -> None:
    accepted_only = hook(hooked, receiver.url + "?accepted", "solution.accepted")
    created_only = hook(hooked, receiver.url + "?created", "entry.created")
    paused = hook(hooked, receiver.url + "?paused", "entry.created", "solution.accepted")
    with hooked.session() as session:
        set_active(session, paused, False)
        session.add(Community(slug="it-support", name="IT support"))
        session.commit()
    elsewhere = hook(hooked, receiver.url + "?it", "entry.created", communities=["it-support"])
    here = hook(hooked, receiver.url + "?here", "solution.accepted", communities=["maintenance"])
    problem = ask(hooked, cast.asker)
    solution = solve(hooked, cast.helper, problem)
    accept(hooked, cast.asker, solution)
    deliver_all_due(hooked, settings)
    sent = [(row.webhook_id, row.event) for row in rows(hooked)]
    assert sent == [
        (created_only, "entry.created"),
        (created_only, "entry.created"),
        (accepted_only, "solution.accepted"),
        (here, "solution.accepted"),
    ]
    assert elsewhere not in {webhook_id for webhook_id, _ in sent}
    received = receiver.wait_for(4)
    assert len(received) == 4
    accepted = next(r for r in received if r.headers["X-KB-Event"] == "solution.accepted")
    assert accepted.payload["problem"]["id"] == problem.external_id  # type: ignore[index]
    assert accepted.payload["solution"]["id"] == solution.external_id  # type: ignore[index]
    assert accepted.payload["actor"] == {"handle": "asker", "name": "Ada Asker"}
    created = [r.payload for r in received if r.headers["X-KB-Event"] == "entry.created"]
    # Deliveries may arrive in any order (docs/webhooks.md): find the solution's.
    (for_solution,) = [p for p in created if p["entry"]["kind"] == "solution"]  # type: ignore[index]
    assert for_solution["problem"]["id"] == problem.external_id  # type: ignore[index]


def test_a_members_only_community_s_events_go_only_to_webhooks_that_name_it(
    hooked: Database, settings: Settings, cast: Cast, receiver: Receiver
) -> None:
    everything = hook(hooked, receiver.url + "?all", "entry.created")
    named = hook(hooked, receiver.url + "?named", "entry.created", communities=["maintenance"])
    with hooked.session() as session:
        maintenance = session.scalar(select(Community).where(Community.slug == "maintenance"))
        assert maintenance is not None
        maintenance.private = True
        cast.asker.communities = ["maintenance"]  # ask() merges this copy of the person
        session.merge(cast.asker)
        session.commit()
    ask(hooked, cast.asker, "Pump seal leaks (members only)")
    assert [(row.webhook_id, row.event) for row in rows(hooked)] == [(named, "entry.created")]
    assert everything not in {row.webhook_id for row in rows(hooked)}


def test_routing_promotion_and_due_reviews_are_events_too(
    hooked: Database, settings: Settings, cast: Cast
) -> None:
    hook(hooked, "https://chat.example.org/hook", "problem.routed", "article.promoted")
    due_hook = hook(hooked, "https://tickets.example.org/hook", "review.due")
    problem = ask(hooked, cast.asker)
    with hooked.session() as session:
        route_problem(
            session, session.merge(cast.asker), session.merge(problem), [AskedPerson("helper")]
        )
    solution = solve(hooked, cast.helper, problem)
    accept(hooked, cast.asker, solution)
    promoted_at = utcnow() - timedelta(days=40)
    with hooked.session() as session:
        article = promote_to_article(
            session,
            session.merge(cast.manager),
            title="Stopping pump seal leaks",
            sections={"problem": "Seals drip.", "resolution": "Tighten the gland nut."},
            sources=[session.merge(problem)],
            review_interval_days=30,
            now=promoted_at,
        )
        article_id = article.entry.external_id
    routed, promoted = (row.payload for row in rows(hooked))
    assert routed["event"] == "problem.routed"
    assert routed["problem"]["id"] == problem.external_id  # type: ignore[index]
    assert routed["asked"] == [{"handle": "helper", "name": "Hal Helper"}]
    assert routed["actor"] == {"handle": "asker", "name": "Ada Asker"}
    assert routed["escalation"] is False
    assert promoted["event"] == "article.promoted"
    assert promoted["article"]["id"] == article_id  # type: ignore[index]
    assert promoted["article"]["sources"] == [problem.external_id]  # type: ignore[index]
    assert promoted["article"]["owner"]["handle"] == "manager"  # type: ignore[index]

    # Due 10 days ago: announced once, however often `kb reviews notify` runs.
    def due_rows() -> list[WebhookDelivery]:
        return [row for row in rows(hooked) if row.webhook_id == due_hook]

    with hooked.session() as session:
        assert [item.article.entry.external_id for item in announce_due_reviews(session)] == [
            article_id
        ]
        assert announce_due_reviews(session) == []
    (due,) = due_rows()
    assert due.payload["reason"] == "overdue"
    assert due.payload["article"]["id"] == article_id  # type: ignore[index]
    assert str(due.payload["due_at"]).startswith(
        (promoted_at + timedelta(days=30)).date().isoformat()
    )
    # Reviewed: the next date is 30 days on, and only then due again.
    with hooked.session() as session:
        from kb.models import Article

        stored = session.scalar(select(Article))
        assert stored is not None
        record_review(session, session.merge(cast.manager), stored, "confirmed")
        assert announce_due_reviews(session, utcnow() + timedelta(days=29)) == []
        assert len(announce_due_reviews(session, utcnow() + timedelta(days=31))) == 1
        # A tutor's or manager's flag asks for a review now: due again, as requested.
        flag_for_review(session, session.merge(cast.manager), stored, "The gland nut changed")
        assert len(announce_due_reviews(session, utcnow() + timedelta(days=31))) == 1
        assert announce_due_reviews(session, utcnow() + timedelta(days=31)) == []
    assert [row.payload["reason"] for row in due_rows()] == ["overdue", "overdue", "requested"]
    assert "The gland nut changed" in str(due_rows()[2].payload["review_reason"])


# -- failing receivers -----------------------------------------------------------------


def test_a_failing_receiver_is_retried_with_backoff_and_the_write_stands(
    hooked: Database, cast: Cast, receiver: Receiver, deliverer: Deliverer
) -> None:
    receiver.answers = [500, 500, 500, 500]
    hook(hooked, receiver.url, "entry.created")
    problem = ask(hooked, cast.asker)
    deliverer.wake()
    first, second, third = receiver.wait_for(3)
    # 0.2 s, then 4 times as long (0.8 s); each attempt the same delivery, the same bytes.
    assert second.at - first.at >= 0.2
    assert third.at - second.at >= 0.8
    assert [r.headers["X-KB-Attempt"] for r in (first, second, third)] == ["1", "2", "3"]
    assert len({r.headers["X-KB-Delivery"] for r in (first, second, third)}) == 1
    assert first.body == second.body == third.body
    deadline = time.monotonic() + 5
    while rows(hooked)[0].status == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    (row,) = rows(hooked)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, 500)
    assert row.last_error.startswith("HTTP 500")
    time.sleep(1.2)
    assert len(receiver.received) == 3  # no fourth attempt: KB_WEBHOOK_MAX_ATTEMPTS
    with hooked.session() as session:
        assert session.get(Entry, problem.id) is not None  # the write was never undone


def test_a_receiver_that_recovers_gets_the_event_once(
    hooked: Database, cast: Cast, receiver: Receiver, deliverer: Deliverer
) -> None:
    receiver.answers = [500, 503]  # then 200
    hook(hooked, receiver.url, "entry.created")
    ask(hooked, cast.asker)
    receiver.wait_for(3)
    deadline = time.monotonic() + 5
    while rows(hooked)[0].status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.05)
    (row,) = rows(hooked)
    assert (row.status, row.attempts, row.last_status_code, row.last_error) == (
        "delivered",
        3,
        200,
        "",
    )
    time.sleep(1.0)
    assert len(receiver.received) == 3


def test_a_hanging_receiver_slows_no_write(
    hooked: Database, settings: Settings, cast: Cast, receiver: Receiver, deliverer: Deliverer
) -> None:
    started = time.monotonic()
    ask(hooked, cast.asker, "A baseline problem nobody hears of")
    baseline = time.monotonic() - started
    hook(hooked, receiver.url, "entry.created")
    receiver.hold.clear()  # the receiver takes every request and never answers
    started = time.monotonic()
    ask(hooked, cast.asker)
    took = time.monotonic() - started
    # A write that waited for the receiver would take the whole 1 s timeout.
    assert took < baseline + 0.5 < settings.webhook_timeout_seconds, (took, baseline)
    # Meanwhile the deliverer did call it, and gave up after the timeout.
    receiver.wait_for(1)
    started = time.monotonic()
    ask(hooked, cast.asker, "Another problem while the receiver hangs")
    assert time.monotonic() - started < baseline + 0.5
    deadline = time.monotonic() + 5
    while not rows(hooked)[0].attempts or rows(hooked)[0].last_error == "":
        assert time.monotonic() < deadline, rows(hooked)[0].__dict__
        time.sleep(0.05)
    first = rows(hooked)[0]
    assert first.status == "pending" and first.last_error == "no answer within 1 s"
    receiver.hold.set()


def test_two_deliverers_never_send_one_delivery_twice(
    hooked: Database, settings: Settings, receiver: Receiver
) -> None:
    """Two engines on one database, as two `kb serve` workers have, sending the same
    due rows at once."""
    receiver.delay = 0.02
    webhook_id = hook(hooked, receiver.url, "entry.created")
    with hooked.session() as session:
        webhook = session.get(Webhook, webhook_id)
        assert webhook is not None
        queue_event(session, [webhook], "entry.created", [{"n": n} for n in range(24)])
    other = Database(hooked.url)
    try:
        barrier = threading.Barrier(2)

        def run(database: Database) -> None:
            barrier.wait()
            deliver_all_due(database, settings)

        threads = [threading.Thread(target=run, args=(db,)) for db in (hooked, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other.dispose()
    received = receiver.wait_for(24)
    ids = [r.headers["X-KB-Delivery"] for r in received]
    assert len(ids) == 24 and len(set(ids)) == 24
    assert {row.status for row in rows(hooked)} == {"delivered"}


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "events", "secret", "reason"),
    [
        ("ftp://example.org/hook", ["entry.created"], None, "starts with http:// or https://"),
        ("https://", ["entry.created"], None, "names a host"),
        ("https://user:pw@example.org/", ["entry.created"], None, "no user name or password"),
        ("http://example.org:99999/", ["entry.created"], None, "no valid port number"),
        ("https://example.org/", ["entry.deleted"], None, "unknown event(s) 'entry.deleted'"),
        ("https://example.org/", [], None, "choose at least one event"),
        ("https://example.org/", ["review.due"], "short", "16 to 200 characters"),
    ],
)
def test_a_bad_webhook_is_refused_with_the_reason(
    database: Database, url: str, events: list[str], secret: str | None, reason: str
) -> None:
    with database.session() as session, pytest.raises(InvalidContribution) as refused:
        add_webhook(session, url, events, secret)
    assert reason in str(refused.value)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Webhook)) == 0


def test_a_webhook_for_a_community_that_does_not_exist_is_refused(database: Database) -> None:
    with database.session() as session, pytest.raises(InvalidContribution) as refused:
        add_webhook(session, "https://example.org/", ["entry.created"], communities=["nope"])
    assert "no community is called 'nope'" in str(refused.value)


# -- the command line ------------------------------------------------------------------


def kb(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={**kb_env(home), **FAST})
    return result.exit_code, result.output


def test_the_webhook_commands(
    hooked: Database, settings: Settings, cast: Cast, receiver: Receiver
) -> None:
    home = settings.home
    code, output = kb(home, "webhook", "list")
    assert code == 0 and "No webhooks yet" in output
    code, output = kb(home, "webhook", "add", "mailto:ops@example.org", "--event", "review.due")
    assert code == 1 and "starts with http:// or https://" in output
    code, output = kb(home, "webhook", "add", receiver.url, "--event", "entry.removed")
    assert code == 1 and "unknown event(s) 'entry.removed'" in output
    code, output = kb(
        home, "webhook", "add", receiver.url, "--event", "entry.created", "--event", "review.due"
    )
    assert code == 0, output
    assert output.startswith("Webhook 1: ")
    secret = output.strip().splitlines()[-1]
    assert len(secret) >= 32

    code, output = kb(home, "webhook", "test", "1")
    assert code == 0 and "Delivered: " in output, output
    (ping,) = receiver.wait_for(1)
    assert ping.headers["X-KB-Event"] == "ping" and verified(ping, secret)

    # Queued by a write elsewhere (no server runs): `kb webhook deliver` sends it.
    ask(hooked, cast.asker)
    code, output = kb(home, "webhook", "deliver")
    assert code == 0 and "Sent 1 attempt(s): 1 delivered" in output, output
    assert receiver.wait_for(2)[1].headers["X-KB-Event"] == "entry.created"

    # A command that announces (here `kb reviews notify`) sends what it queued before it
    # ends: the receiver has it when the command returns.
    with hooked.session() as session:
        promote_to_article(
            session,
            session.merge(cast.manager),
            title="Seal leaks",
            sections={"problem": "Drips.", "resolution": "Tighten."},
            sources=[session.scalar(select(Entry))],  # type: ignore[list-item]
            review_interval_days=1,
            now=utcnow() - timedelta(days=2),
        )
    code, output = kb(home, "reviews", "notify")
    assert code == 0 and "Announced 1 article(s)" in output, output
    assert len(receiver.received) == 3
    assert receiver.received[2].headers["X-KB-Event"] == "review.due"
    code, output = kb(home, "reviews", "notify", "--now", "yesterday")
    assert code == 2 and "is not a date and time" in output

    receiver.answers = [500]
    code, output = kb(home, "webhook", "test", "1")
    assert code == 1 and "not delivered" in output and "HTTP 500" in output
    code, output = kb(home, "webhook", "deliveries", "--failed")
    assert code == 0 and output.count("\n") == 1 and "ping  failed  attempts 1" in output
    code, output = kb(home, "webhook", "deliveries")
    assert code == 0 and output.count("delivered") == 3
    code, output = kb(home, "webhook", "list")
    assert "[active]  entry.created, review.due" in output and "in every community" in output
    # Pending: the article's entry.created, queued by this test's own write (no deliverer).
    assert "1 pending, 3 delivered, 1 failed" in output

    code, output = kb(home, "webhook", "pause", "1")
    assert code == 0 and "paused" in output
    code, output = kb(home, "webhook", "test", "1")
    assert code == 1 and "kb webhook resume 1" in output
    code, output = kb(home, "webhook", "remove", "1")
    assert code == 0 and "Removed webhook 1" in output
    code, output = kb(home, "webhook", "remove", "1")
    assert code == 1 and "there is no webhook 1" in output
    code, output = kb(home, "webhook", "deliveries")
    assert code == 0 and "No deliveries." in output


# -- a real server ---------------------------------------------------------------------


def test_kb_serve_delivers_api_writes_from_its_workers_once_each(
    hooked: Database, settings: Settings, cast: Cast, receiver: Receiver, embedder: object
) -> None:
    """Two workers, each with its deliverer polling every 0.2 s: every write is sent once,
    and the API answers while the receiver is still holding the first delivery."""
    hook(hooked, receiver.url, "entry.created")
    with hooked.session() as session:
        _token, plain = create_token(session, session.merge(cast.asker), label="test")
        session.commit()
    hooked.dispose()
    auth = {"Authorization": f"Bearer {plain}"}
    receiver.hold.clear()
    # A 3 s timeout: a request that waited for the held receiver would take that long.
    slow_receiver = {**FAST, "KB_WEBHOOK_TIMEOUT_SECONDS": "3"}
    with running_server(settings.home, "--workers", "2", **slow_receiver) as base:
        created = []
        for n in range(4):
            started = time.monotonic()
            response = httpx.post(
                f"{base}/api/problems",
                json={"title": f"Compressor {n} trips on hot days", "community": "maintenance"},
                headers=auth,
                timeout=30,
            )
            took = time.monotonic() - started
            assert response.status_code == 201, response.text
            assert took < 3.0, took  # the timeout was not waited for
            created.append(response.json()["id"])
        receiver.wait_for(1)
        receiver.hold.set()  # answer from now on; the first attempts that timed out retry
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            delivered = [r for r in rows(hooked) if r.status == DeliveryStatus.DELIVERED]
            if len(delivered) == 4:
                break
            time.sleep(0.2)
        assert len(delivered) == 4, [row.__dict__ for row in rows(hooked)]
    answered = {}
    for received in receiver.received:
        assert verified(received, SECRET)
        answered.setdefault(received.headers["X-KB-Delivery"], []).append(
            received.headers["X-KB-Attempt"]
        )
    # No attempt of any delivery went out twice, however many tries a delivery took.
    assert all(len(set(attempts)) == len(attempts) for attempts in answered.values())
    titles = {r.payload["entry"]["id"] for r in receiver.received}  # type: ignore[index]
    assert titles == set(created)
