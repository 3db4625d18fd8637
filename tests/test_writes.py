"""One write, one transaction, announced after its commit (kb.writes, kb.announcements),
against a real database (SQLite, or PostgreSQL with KB_TEST_DATABASE_URL)."""

import pytest
from sqlalchemy import event, func, select

from kb.accounts import Role, add_user
from kb.announcements import (
    EntrySaved,
    PeopleAsked,
    RequestAnswered,
    SolutionAccepted,
    StateChanged,
)
from kb.contributions import (
    accept_solution,
    add_comment,
    add_solution,
    ask_problem,
    comment_to_solution,
)
from kb.database import Database
from kb.entry_schema import EntryDraft
from kb.errors import InvalidContribution
from kb.lifecycle import change_state
from kb.models import Entry, Person
from kb.routing import AskedPerson, route_problem, take
from kb.writes import announce, write


def people(database: Database) -> tuple[Person, Person]:
    with database.session() as session:
        asker, _ = add_user(session, "asker", [Role.WORKER], None)
        helper, _ = add_user(session, "helper", [Role.WORKER], None)
        return asker, helper


def test_announcements_go_out_after_the_commit_and_see_the_committed_rows(
    database: Database,
) -> None:
    asker, _ = people(database)
    seen: list[tuple[int, bool]] = []

    def check_committed(saved: EntrySaved) -> None:
        with database.session() as other:  # another connection sees only committed rows
            seen.append((saved.entry_id, other.get(Entry, saved.entry_id) is not None))

    database.subscribers.subscribe(EntrySaved, check_committed)
    with database.session() as session:
        problem = ask_problem(session, asker, EntryDraft("Pump seal leaks"), None)
    assert seen == [(problem.id, True)]


def test_a_refused_write_saves_and_announces_nothing(database: Database) -> None:
    asker, _ = people(database)
    heard: list[EntrySaved] = []
    database.subscribers.subscribe(EntrySaved, heard.append)
    with database.session() as session, pytest.raises(InvalidContribution):
        ask_problem(session, asker, EntryDraft("Where?"), "no-such-community")
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == 0
    assert heard == []


def test_a_write_inside_a_write_joins_it(database: Database) -> None:
    """A comment turned into a solution: the solution and the comment's link to it are
    one commit, and the solution is announced once, after it."""
    asker, helper = people(database)
    heard: list[EntrySaved] = []
    with database.session() as session:
        problem = ask_problem(session, asker, EntryDraft("Valve sticks"), None)
        comment = add_comment(session, helper, problem, "Clean the seat, then grease it.")
    database.subscribers.subscribe(EntrySaved, heard.append)
    with database.session() as session:
        commits: list[object] = []
        event.listen(session, "after_commit", commits.append)
        solution = comment_to_solution(session, helper, session.merge(comment))
    assert len(commits) == 1
    assert heard == [EntrySaved(solution.id, "solution", created=True)]


def test_a_failing_subscriber_neither_undoes_the_write_nor_stops_the_others(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    asker, helper = people(database)
    asked: list[PeopleAsked] = []

    def broken(_: PeopleAsked) -> None:
        raise RuntimeError("mail server on fire")

    database.subscribers.subscribe(PeopleAsked, broken)
    database.subscribers.subscribe(PeopleAsked, asked.append)
    with database.session() as session:
        problem = ask_problem(session, asker, EntryDraft("Conveyor stops"), None)
        routings = route_problem(session, asker, problem, [AskedPerson("helper")])
    assert asked == [PeopleAsked((routings[0].id,))]
    assert "mail server on fire" in caplog.text
    with database.session() as session:
        assert session.get(Entry, problem.id) is not None


def test_announcing_outside_a_write_is_a_mistake(database: Database) -> None:
    with database.session() as session:
        with pytest.raises(RuntimeError, match="inside `with write"):
            announce(session, EntrySaved(1, "problem", created=True))
        with write(session):
            announce(session, EntrySaved(1, "problem", created=True))


def test_each_step_of_the_loop_is_announced(database: Database) -> None:
    """What notifications and webhooks will listen to: asked, taken, solved, accepted."""
    asker, helper = people(database)
    heard: list[object] = []
    for kind in (EntrySaved, PeopleAsked, RequestAnswered, SolutionAccepted, StateChanged):
        database.subscribers.subscribe(kind, heard.append)
    with database.session() as session:
        problem = ask_problem(session, asker, EntryDraft("Lathe stops after warm-up"), None)
        (request,) = route_problem(session, asker, problem, [AskedPerson("helper")])
        take(session, session.merge(helper), request)
        solution = add_solution(session, session.merge(helper), problem, EntryDraft("", "Fan."))
        accept_solution(session, asker, solution)
        change_state(session, asker, problem, "closed")
    assert heard == [
        EntrySaved(problem.id, "problem", created=True),
        PeopleAsked((request.id,)),
        RequestAnswered(request.id, "taken"),
        EntrySaved(solution.id, "solution", created=True),
        SolutionAccepted(problem.id, solution.id, asker.id),
        StateChanged(problem.id, "solved", "closed"),
    ]
