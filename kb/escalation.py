"""Escalation: a routed problem still unanswered after the deadline (KB_ESCALATION_DAYS)
goes to the tutors of its community, once (`kb escalate`, run from cron). A members-only
community's problem goes to its own tutors only; without any, it stays with its members."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.accounts import Role
from kb.announcements import PeopleAsked
from kb.models import Entry, Person, Routing, utcnow
from kb.routing import UNSOLVED, new_routing, routings_of
from kb.writes import announce, write


def escalate_overdue(
    session: Session, deadline_days: float, now: datetime | None = None
) -> list[Routing]:
    """Open problems routed more than `deadline_days` ago that still have no solution go to
    the tutors of their community (any tutor if the community has none)."""
    moment = now or utcnow()
    cutoff = moment - timedelta(days=deadline_days)
    first_routed = (
        select(Routing.problem_id, func.min(Routing.created_at).label("first"))
        .group_by(Routing.problem_id)
        .subquery()
    )
    problems = session.scalars(
        select(Entry)
        .join(first_routed, first_routed.c.problem_id == Entry.id)
        .where(Entry.status.in_(UNSOLVED), first_routed.c.first <= cutoff)
    )
    tutors = [  # not those away, nor those who asked not to be routed problems
        p
        for p in session.scalars(select(Person))
        if Role.TUTOR in (p.roles or []) and not p.away and not p.routing_opt_out
    ]
    with write(session):
        escalated = _escalate(session, problems, tutors, moment)
        if escalated:
            announce(session, PeopleAsked(tuple(routing.id for routing in escalated)))
    return escalated


def _escalate(
    session: Session, problems: Iterable[Entry], tutors: list[Person], moment: datetime
) -> list[Routing]:
    escalated = []
    for problem in problems:
        has_solution = session.scalar(
            select(func.count()).select_from(Entry).where(Entry.solves_id == problem.id)
        )
        routings = routings_of(session, problem)
        if has_solution or any(r.escalation for r in routings):
            continue
        local = [t for t in tutors if problem.community.slug in (t.communities or [])]
        # A members-only problem goes to its own tutors only, never to an outsider.
        for tutor in local if local or problem.community.private else tutors:
            if tutor.id == problem.author_id:
                continue
            days = (moment - min(r.created_at for r in routings)).days
            note = f"unanswered {days} days after it was routed"
            escalated.append(
                new_routing(session, problem, tutor, None, [], note, escalation=True, now=moment)
            )
    return escalated
