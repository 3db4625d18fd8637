"""Whom a request could be passed on to, for the inbox's people picker: the people kb
would suggest for the problem first (with why), then everyone else who may be asked."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Person, Routing
from kb.routing import ACTIVE_STATES, routings_of
from search.engine import SearchEngine
from search.routing import problem_audience, problem_query, suggest_people

SUGGESTED = 3


@dataclass(frozen=True)
class PassChoice:
    handle: str
    name: str
    why: str  # "suggested: solved …", or "" for the rest


def pass_choices(engine: SearchEngine, session: Session, routing: Routing) -> list[PassChoice]:
    """Suggested people first, then the others by name; never the person passing it, the
    asker, anyone asked already, away or opted out, nor (for a members-only community)
    a non-member. pass_to would refuse all of those."""
    problem = routing.problem
    audience, outside = problem_audience(session, problem)
    taken = {
        r.person.handle
        for r in routings_of(session, problem)
        if r.state in ACTIVE_STATES or r.id == routing.id
    }
    excluded = taken | outside | {problem.author.handle, routing.person.handle}
    suggested = suggest_people(
        engine,
        session,
        problem_query(engine, problem),
        asker=problem.author,
        limit=SUGGESTED,
        exclude=excluded,
        tags=problem.tags or (),
        visibility=audience,
    )
    choices = [
        PassChoice(
            e.person, e.name, "suggested" + (f": {e.explanations[0]}" if e.explanations else "")
        )
        for e in suggested
    ]
    chosen = excluded | {choice.handle for choice in choices}
    everyone = session.scalars(
        select(Person)
        .where(Person.away.is_(False), Person.routing_opt_out.is_(False))
        .order_by(Person.name)
    )
    choices.extend(PassChoice(p.handle, p.name, "") for p in everyone if p.handle not in chosen)
    return choices
