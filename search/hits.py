"""What a search returns: a page of ranked entries as hits, and the facets of every match."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from kb.models import Community, Entry, EntryKind, Feedback, FeedbackKind, Person
from kb.visibility import Visibility
from search.query import SearchMode, SearchSort
from search.snippets import Snippet, make_snippet, plain_text

FACETS = ("kind", "community", "status", "tag")
FACET_VALUES = 12
# A results page as plain rows, not ORM objects. The statements are made once: building
# them, and their aliased tables above all, costs more than running them.
_solved, _solver, _solution = aliased(Entry), aliased(Person), aliased(Entry)
PAGE_ROWS = (
    select(
        Entry.id,
        Entry.external_id,
        Entry.kind,
        Entry.title,
        Entry.body,
        Entry.status,
        Entry.tags,
        Entry.created_at,
        Community.slug.label("community"),
        Person.handle.label("author"),
        Person.name.label("author_name"),
        _solved.external_id.label("solves"),
    )
    .join(Community, Community.id == Entry.community_id)
    .join(Person, Person.id == Entry.author_id)
    .outerjoin(_solved, _solved.id == Entry.solves_id)
    .where(Entry.id.in_(bindparam("ids", expanding=True)))
)
ACCEPTED_SOLUTIONS = (
    select(
        _solution.solves_id, _solution.external_id, _solution.title, _solver.handle, _solver.name
    )
    .join(_solver, _solver.id == _solution.author_id)
    .where(_solution.solves_id.in_(bindparam("ids", expanding=True)), _solution.accepted)
    .order_by(_solution.id)
)
FEEDBACK_COUNTS = (
    select(Feedback.entry_id, Feedback.kind, func.count())
    .where(
        Feedback.entry_id.in_(bindparam("ids", expanding=True)),
        Feedback.kind.in_([str(FeedbackKind.HELPFUL), str(FeedbackKind.REUSE)]),
    )
    .group_by(Feedback.entry_id, Feedback.kind)
)


def answer_counts(hidden_communities: frozenset[int]) -> Select[int | None, int]:
    """Solutions of each problem bound to `ids`, those the searcher may see (as the
    entry page lists them)."""
    return (
        select(Entry.solves_id, func.count())
        .where(
            Entry.solves_id.in_(bindparam("ids", expanding=True)),
            Visibility(hidden_communities).allows(Entry.community_id),
        )
        .group_by(Entry.solves_id)
    )


@dataclass
class AcceptedSolution:
    id: str
    title: str
    author: str  # handle
    author_name: str = ""


@dataclass
class SearchHit:
    id: str
    kind: str
    title: str
    status: str
    community: str
    author: str  # handle, for links
    author_name: str  # what people read
    tags: list[str]
    created_at: datetime
    score: float
    dense_score: float | None
    keyword_score: float | None
    snippet: Snippet
    accepted_solution: AcceptedSolution | None = None
    solves: str | None = None
    answers: int = 0  # solutions of a problem
    helpful: int = 0  # "helpful" feedback
    reused: int = 0  # "this solved my case too"


@dataclass
class SearchResults:
    query: str
    mode: SearchMode
    total: int
    offset: int
    limit: int
    hits: list[SearchHit] = field(default_factory=list)
    # facet name -> [(value, count)], over every match, not only this page
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    sort: SearchSort = SearchSort.RELEVANCE


def hydrate(
    engine: Engine,
    query: str,
    page: list[tuple[int, float]],
    dense_scores: dict[int, float],
    keyword_scores: dict[int, float],
    hidden_communities: frozenset[int] = frozenset(),
) -> list[SearchHit]:
    """The page's (entry id, fused score) as hits, with snippets for the query, answer
    and feedback counts."""
    if not page:
        return []
    ids = [entry_id for entry_id, _ in page]
    # Plain rows through a connection: the ORM's row handling costs more than the query.
    with engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(PAGE_ROWS, {"ids": ids})}
        accepted: dict[int, AcceptedSolution] = {}
        for solution in connection.execute(ACCEPTED_SOLUTIONS, {"ids": ids}):
            accepted.setdefault(
                solution.solves_id,
                AcceptedSolution(
                    solution.external_id, solution.title, solution.handle, solution.name
                ),
            )
        answers = dict(connection.execute(answer_counts(hidden_communities), {"ids": ids}).all())
        feedback: dict[tuple[int, str], int] = {
            (entry_id, kind): count
            for entry_id, kind, count in connection.execute(FEEDBACK_COUNTS, {"ids": ids})
        }
    hits: list[SearchHit] = []
    for entry_id, score in page:
        row = rows.get(entry_id)
        if row is None:  # removed since the index was built
            continue
        hits.append(
            SearchHit(
                id=row.external_id,
                kind=row.kind,
                title=row.title,
                status=row.status,
                community=row.community,
                author=row.author,
                author_name=row.author_name,
                tags=list(row.tags),
                created_at=row.created_at,
                score=round(score, 6),
                dense_score=_rounded(dense_scores.get(entry_id)),
                keyword_score=_rounded(keyword_scores.get(entry_id)),
                snippet=make_snippet(plain_text(row.body), query),
                accepted_solution=accepted.get(entry_id) if row.kind == EntryKind.PROBLEM else None,
                solves=row.solves,
                answers=answers.get(entry_id, 0),
                helpful=feedback.get((entry_id, str(FeedbackKind.HELPFUL)), 0),
                reused=feedback.get((entry_id, str(FeedbackKind.REUSE)), 0),
            )
        )
    return hits


def facets(engine: Engine, entry_ids: list[int]) -> dict[str, list[tuple[str, int]]]:
    """The most common kinds, communities, statuses and tags among these entries."""
    counters: dict[str, Counter[str]] = {name: Counter() for name in FACETS}
    with engine.connect() as connection:
        rows = connection.execute(
            select(Entry.kind, Community.slug, Entry.status, Entry.tags)
            .join(Community, Community.id == Entry.community_id)
            .where(Entry.id.in_(entry_ids))
        )
        for kind, community, status, tags in rows:
            counters["kind"][kind] += 1
            counters["community"][community] += 1
            counters["status"][status] += 1
            counters["tag"].update(tags)
    return {name: counter.most_common(FACET_VALUES) for name, counter in counters.items()}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
