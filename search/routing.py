"""Whom to ask about an open problem: the people who solved similar ones (search.experts,
or the learned model once `kb tune routing` has stored one), never the asker, nobody
away or opted out, and only members of the problem's community when it has any. Asking
them is a write: kb.routing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Entry, EntryKind, Person, utcnow
from kb.routing import UNSOLVED, AskedPerson, open_load, routings_of, unavailable_people
from kb.visibility import Visibility, audience_of
from search.engine import SearchEngine
from search.expert_features import ProblemQuery
from search.experts import Expert, find_experts
from search.filters import SearchFilters
from search.learned_routing import learned_experts, learned_model_for


@dataclass
class RoutingAdvice:
    """Whether to ask people, and whom: kb advises routing when no existing answer fits."""

    best_match: Entry | None  # the closest answered case or practice
    best_similarity: float | None
    should_route: bool
    experts: list[Expert]


def problem_query(engine: SearchEngine, problem: Entry) -> str:
    """A problem as a search query: its title and text, cut to the longest query kb
    accepts (KB_MAX_QUERY_CHARS), which a long description would otherwise exceed."""
    return f"{problem.title}\n{problem.body}"[: engine.settings.max_query_chars]


def suggest_people(
    engine: SearchEngine,
    session: Session,
    text: str,
    *,
    asker: Person | None = None,
    community: str | None = None,
    limit: int = 3,
    exclude: set[str] | None = None,
    now: datetime | None = None,
    tags: Sequence[str] = (),
    visibility: Visibility | None = None,
) -> list[Expert]:
    """The people to ask, with reasons; never the asker, nobody away or opted out.
    The reasons only name cases `visibility` allows (kb.visibility).

    With a stored routing model (`kb tune routing`) and enough history, the learned
    model ranks them; otherwise (cold start, no model, or one community asked for)
    the explained formula of search.experts does.
    """
    excluded = set(exclude or ())
    if asker is not None:
        excluded.add(asker.handle)
    model = learned_model_for(engine, session) if community is None else None
    if model is not None:
        query = ProblemQuery(
            text[: engine.settings.max_query_chars],
            now or utcnow(),
            tuple(tags),
            asker=asker.handle if asker is not None else None,
        )
        return learned_experts(
            engine,
            session,
            model,
            query,
            limit=limit,
            load=open_load(session),
            exclude=excluded,
            unavailable=unavailable_people(session),
            visibility=visibility,
        )
    return find_experts(
        engine,
        text,
        community=community,
        limit=limit,
        load=open_load(session),
        exclude=excluded,
        unavailable=unavailable_people(session),
        now=now,
        visibility=visibility,
    )


def problem_audience(session: Session, problem: Entry) -> tuple[Visibility, set[str]]:
    """What routing a problem may show and whom it may not ask: reasons only from cases
    everyone who can see the problem can see; a members-only problem asks members only."""
    return audience_of(session, problem.community), outside_the_community(session, problem)


def advise(
    engine: SearchEngine,
    session: Session,
    problem: Entry,
    *,
    threshold: float,
    limit: int = 3,
    now: datetime | None = None,
) -> RoutingAdvice:
    """For an open problem: the closest answered case, and who to ask if it is not close."""
    query = problem_query(engine, problem)
    audience, outside = problem_audience(session, problem)
    results = engine.search(query, SearchFilters.seen_by(audience), limit=10)
    best: Entry | None = None
    best_similarity: float | None = None
    for hit in results.hits:
        if hit.id == problem.external_id or hit.dense_score is None:
            continue
        answered = hit.kind == EntryKind.PRACTICE or hit.accepted_solution is not None
        answered = answered or (
            hit.kind == EntryKind.SOLUTION and hit.solves != problem.external_id
        )
        if answered and (best_similarity is None or hit.dense_score > best_similarity):
            best_similarity = hit.dense_score
            best = session.scalar(select(Entry).where(Entry.external_id == hit.id))
    already = {r.person.handle for r in routings_of(session, problem)}
    experts = suggest_people(
        engine,
        session,
        query,
        asker=problem.author,
        community=None,
        limit=limit,
        exclude=already | outside,
        now=now,
        tags=problem.tags or (),
        visibility=audience,
    )
    should_route = problem.status in UNSOLVED and (
        best_similarity is None or best_similarity < threshold
    )
    return RoutingAdvice(best, best_similarity, should_route, experts)


def next_person(engine: SearchEngine, session: Session, problem: Entry) -> AskedPerson | None:
    """Who a declined problem goes to: the best suggested person not asked yet."""
    already = {r.person.handle for r in routings_of(session, problem)}
    audience, outside = problem_audience(session, problem)
    following = suggest_people(
        engine,
        session,
        problem_query(engine, problem),
        asker=problem.author,
        limit=1,
        exclude=already | outside,
        tags=problem.tags or (),
        visibility=audience,
    )
    return asked_person(following[0]) if following else None


def outside_the_community(session: Session, problem: Entry) -> set[str]:
    """Handles of the people who are not members of the problem's community.

    The evidence comes from the whole organisation (a similar case may have been solved
    anywhere), but a problem asked in a community goes to that community's people: they
    chose to answer there. A problem in an open community nobody belongs to (the catch-all
    "general") may go to anyone, so then nobody is left out; a members-only problem goes
    to members only, even when there are none (kb.visibility)."""
    slug = problem.community.slug
    people = session.execute(select(Person.handle, Person.communities)).all()
    members_only = problem.community.private
    if not members_only and not any(slug in (communities or ()) for _, communities in people):
        return set()
    return {handle for handle, communities in people if slug not in (communities or ())}


def asked_person(expert: Expert) -> AskedPerson:
    return AskedPerson(expert.person, _reasons(expert))


def _reasons(expert: Expert) -> list[dict[str, object]]:
    return [
        {
            "case_id": r.case_id,
            "title": r.title,
            "role": str(r.role),
            "similarity": round(r.similarity, 3),
        }
        for r in expert.reasons
    ]
