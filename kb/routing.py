"""Routing's writes: asking people about an open problem, and what they do with it.

The asker (or a tutor) confirms whom to ask (search.routing suggests them, with reasons);
the problem lands in each one's inbox. The person takes it, declines it (it goes on to
the next suggested person) or passes it to someone else. A problem still unanswered
after the deadline escalates to its community's tutors. Each request made is announced
(PeopleAsked), and the e-mail subscriber tells the person. Every function takes `now`,
so time can be set in tests.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from kb.accounts import Role, has_role
from kb.announcements import PeopleAsked, RequestAnswered
from kb.errors import InvalidContribution, NotAllowed
from kb.gaps import mark_gaps_read
from kb.models import Entry, EntryKind, EntryStatus, Gap, Person, Routing, RoutingState, utcnow
from kb.people_lookup import person_called
from kb.problems import refresh_problem_status
from kb.visibility import may_see_community, visibility_for
from kb.writes import announce, write

ACTIVE_STATES = (RoutingState.ASKED, RoutingState.TAKEN)
UNSOLVED = (EntryStatus.OPEN, EntryStatus.IN_PROGRESS)


@dataclass(frozen=True)
class AskedPerson:
    """Someone to ask, and why (the cases they solved), as shown in their inbox."""

    handle: str
    reasons: list[dict[str, object]] = field(default_factory=list)


def routings_of(session: Session, problem: Entry) -> list[Routing]:
    return list(
        session.scalars(
            select(Routing).where(Routing.problem_id == problem.id).order_by(Routing.created_at)
        )
    )


def may_route(person: Person, problem: Entry) -> bool:
    return person.id == problem.author_id or has_role(person, Role.TUTOR)


def route_problem(
    session: Session,
    actor: Person,
    problem: Entry,
    people: list[AskedPerson],
    note: str = "",
    now: datetime | None = None,
) -> list[Routing]:
    """Ask each person (the asker or a tutor confirms); people already asked are skipped."""
    if problem.kind != EntryKind.PROBLEM:
        raise InvalidContribution(f"{problem.external_id} is a {problem.kind}, not a problem")
    if not may_route(actor, problem):
        raise NotAllowed("only the person who asked this problem or a tutor can route it")
    if problem.status not in UNSOLVED:
        raise InvalidContribution("this problem is solved already; nobody needs to be asked")
    if not people:
        raise InvalidContribution("nobody to ask: no one has solved a similar problem yet")
    with write(session):
        asked = {r.person_id for r in routings_of(session, problem)}
        created = []
        for chosen in people:
            person = _person(session, chosen.handle)
            if person.id in asked or person.id == problem.author_id:
                continue
            _refuse_unavailable(person)
            created.append(
                new_routing(session, problem, person, actor, chosen.reasons, note, now=now)
            )
        if not created:
            raise InvalidContribution("everyone named has been asked already or asked the problem")
        announce(session, PeopleAsked(tuple(routing.id for routing in created)))
    return created


def new_routing(
    session: Session,
    problem: Entry,
    person: Person,
    routed_by: Person | None,
    reasons: list[dict[str, object]],
    note: str,
    *,
    escalation: bool = False,
    now: datetime | None = None,
) -> Routing:
    if problem.community.private and problem.community.slug not in (person.communities or []):
        raise InvalidContribution(
            f"{person.handle} is not a member of {problem.community.name}, which is "
            "members-only: only its members can be asked about its problems"
        )
    moment = now or utcnow()
    routing = Routing(
        problem_id=problem.id,
        person_id=person.id,
        routed_by_id=routed_by.id if routed_by else None,
        state=RoutingState.ASKED,
        reasons=reasons,
        note=" ".join(note.split())[:2000],
        escalation=escalation,
        created_at=moment,
        updated_at=moment,
    )
    session.add(routing)
    session.flush()
    return routing


def _person(session: Session, handle: str) -> Person:
    person = session.scalar(select(Person).where(Person.handle == handle.strip()))
    if person is None:
        raise InvalidContribution(f"nobody is called {handle!r}")
    return person


def _refuse_unavailable(person: Person) -> None:
    """Naming someone by hand does not override their own choice not to be asked."""
    if person.away:
        raise InvalidContribution(f"{person.handle} is away and is not being asked for now")
    if person.routing_opt_out:
        raise InvalidContribution(f"{person.handle} has opted out of being asked about problems")


def _own_active_routing(actor: Person, routing: Routing) -> None:
    if routing.person_id != actor.id:
        raise NotAllowed("only the person this problem was asked of can do that")
    if routing.state not in ACTIVE_STATES:
        raise InvalidContribution(f"this request is {routing.state} already")


def take(session: Session, actor: Person, routing: Routing, now: datetime | None = None) -> None:
    _own_active_routing(actor, routing)
    with write(session):
        routing.state = RoutingState.TAKEN
        routing.updated_at = now or utcnow()
        routing.read_at = routing.read_at or routing.updated_at
        session.flush()
        refresh_problem_status(session, routing.problem_id)
        announce(session, RequestAnswered(routing.id, routing.state))


def decline(
    session: Session,
    actor: Person,
    routing: Routing,
    note: str = "",
    successor: AskedPerson | None = None,
    now: datetime | None = None,
) -> Routing | None:
    """Decline; the problem goes on to `successor` (search.routing.next_person: the next
    suggested person not asked yet), if there is one. Returns the successor's request."""
    _own_active_routing(actor, routing)
    with write(session):
        routing.state = RoutingState.DECLINED
        routing.note = " ".join(note.split())[:2000] or routing.note
        routing.updated_at = now or utcnow()
        session.flush()
        refresh_problem_status(session, routing.problem_id)
        announce(session, RequestAnswered(routing.id, routing.state))
        if successor is None:
            return None
        person = _person(session, successor.handle)
        asked = new_routing(session, routing.problem, person, None, successor.reasons, "", now=now)
        announce(session, PeopleAsked((asked.id,)))
        return asked


def pass_to(
    session: Session,
    actor: Person,
    routing: Routing,
    handle: str,
    note: str = "",
    now: datetime | None = None,
) -> Routing:
    """Hand the problem on to someone the routed person knows is better placed (named by
    user name or full name: kb.people_lookup)."""
    _own_active_routing(actor, routing)
    other = person_called(session, handle)
    problem = routing.problem
    if other.id == problem.author_id:
        raise InvalidContribution(f"{other.handle} asked this problem")
    if other.id == actor.id:
        raise InvalidContribution("pass it to someone else")
    _refuse_unavailable(other)
    if any(
        r.person_id == other.id and r.state in ACTIVE_STATES for r in routings_of(session, problem)
    ):
        raise InvalidContribution(f"{other.handle} has been asked already")
    with write(session):
        routing.state = RoutingState.PASSED
        routing.updated_at = now or utcnow()
        session.flush()
        refresh_problem_status(session, routing.problem_id)
        announce(session, RequestAnswered(routing.id, routing.state))
        reasons: list[dict[str, object]] = [{"passed_by": actor.handle}]
        passed = new_routing(session, problem, other, actor, reasons, note, now=now)
        announce(session, PeopleAsked((passed.id,)))
        return passed


def open_load(session: Session) -> dict[str, int]:
    """Per person handle: open problems routed to them and not yet declined or passed."""
    rows = session.execute(
        select(Person.handle, func.count())
        .join(Routing, Routing.person_id == Person.id)
        .join(Entry, Entry.id == Routing.problem_id)
        .where(Routing.state.in_(ACTIVE_STATES), Entry.status.in_(UNSOLVED))
        .group_by(Person.handle)
    )
    return {handle: count for handle, count in rows}


def unavailable_people(session: Session) -> set[str]:
    rows = session.scalars(
        select(Person.handle).where((Person.away.is_(True)) | (Person.routing_opt_out.is_(True)))
    )
    return set(rows)


def inbox(session: Session, person: Person) -> list[Routing]:
    """What was asked of this person, open requests first, newest first."""
    routings = session.scalars(
        select(Routing).where(Routing.person_id == person.id).order_by(Routing.created_at.desc())
    )
    # Not the problems of a members-only community the person has left since.
    seen = [r for r in routings if may_see_community(person, r.problem.community)]
    return sorted(seen, key=lambda r: r.state not in ACTIVE_STATES)


def unread_count(session: Session, person: Person) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Routing)
            .join(Entry, Entry.id == Routing.problem_id)
            .where(
                visibility_for(session, person).allows(),
                Routing.person_id == person.id,
                Routing.read_at.is_(None),
                Routing.state.in_(ACTIVE_STATES),
            )
        )
        or 0
    )


def mark_inbox_read(
    session: Session, routings: list[Routing], gaps: list[Gap], now: datetime | None = None
) -> None:
    """The inbox was seen: its requests and assigned gaps stop counting as unread."""
    moment = now or utcnow()
    with write(session):
        for routing in routings:
            routing.read_at = routing.read_at or moment
        mark_gaps_read(session, gaps)


def set_availability(
    session: Session, person: Person, *, away: bool | None, routing_opt_out: bool | None
) -> None:
    """Away, or opted out of routing: kb then suggests other people."""
    with write(session):
        if away is not None:
            person.away = away
        if routing_opt_out is not None:
            person.routing_opt_out = routing_opt_out


# Built once: every page of search results asks it.
WORKERS_OF = (
    select(Entry.external_id, Person.name)
    .join(Routing, Routing.problem_id == Entry.id)
    .join(Person, Person.id == Routing.person_id)
    .where(
        Entry.external_id.in_(bindparam("ids", expanding=True)),
        Routing.state == RoutingState.TAKEN,
    )
)


def workers_by_external_id(session: Session, external_ids: list[str]) -> dict[str, list[str]]:
    """Per problem id (as shown): names of the people working on it."""
    rows = session.connection().execute(WORKERS_OF, {"ids": external_ids})
    working: dict[str, list[str]] = defaultdict(list)
    for external_id, name in rows:
        working[external_id].append(name)
    return dict(working)
