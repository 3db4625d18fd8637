"""The JSON API under /api."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from kb import browse
from kb.entry_schema import MAX_BODY_CHARS, MAX_TITLE_CHARS
from kb.models import Entry, EntryKind
from kb.routing import workers_by_external_id
from search.date_range import Since, created_range
from search.engine import SearchMode, SearchSort
from search.filters import SearchFilters
from web.auth import VisibilityDep, require_reader
from web.deps import EngineDep, SessionDep, entry_or_404
from web.schemas import EntryOut, ErrorResponse, SearchResponse
from web.search_logging import record_search

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}
router = APIRouter(prefix="/api", responses=ERRORS, dependencies=[Depends(require_reader)])


@router.get("/search", response_model=SearchResponse, tags=["search"])
def api_search(
    engine: EngineDep,
    session: SessionDep,
    visibility: VisibilityDep,
    q: Annotated[str, Query(description="Words, a question or an error code.")],
    kind: EntryKind | None = None,
    community: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    mode: SearchMode = SearchMode.HYBRID,
    sort: Annotated[
        SearchSort, Query(description="relevance (best match first) or newest.")
    ] = SearchSort.RELEVANCE,
    since: Annotated[
        Since, Query(description="Written in the last 30 days (30d), year, or any time.")
    ] = Since.ANY,
    date_from: Annotated[
        date | None, Query(alias="from", description="Written on or after this day (UTC).")
    ] = None,
    date_to: Annotated[
        date | None, Query(alias="to", description="Written on or before this day (UTC).")
    ] = None,
) -> SearchResponse:
    """Hybrid search (meaning + exact words) with optional filters; `total` counts the
    matches, the entries above the relevance floor."""
    created_from, created_to = created_range(since, date_from, date_to, datetime.now(UTC).date())
    filters = SearchFilters.seen_by(
        visibility,
        kind=kind,
        community=community,
        tag=tag,
        status=status,
        created_from=created_from,
        created_to=created_to,
    )
    results = engine.search(q, filters, limit=limit, offset=offset, mode=mode, sort=sort)
    response = SearchResponse.from_results(results)
    working = workers_by_external_id(session, [hit.id for hit in response.hits])
    for hit in response.hits:
        hit.being_worked_on_by = working.get(hit.id, [])
    return response


# How far a similar case got (SimilarCase.answer).
CaseAnswer = Literal["solved", "working", "proposed", "open"]


class Draft(BaseModel):
    title: str = Field(default="", max_length=MAX_TITLE_CHARS)
    body: str = Field(default="", max_length=MAX_BODY_CHARS)
    community: str | None = Field(
        default=None,
        max_length=100,
        description="The community chosen on the Ask form (its slug): only its cases are "
        "suggested. Empty or left out: every community the viewer may see.",
    )


class PersonRef(BaseModel):
    handle: str
    name: str


class SimilarCase(BaseModel):
    id: str
    title: str
    status: str
    community: str
    snippet: str
    score: float
    accepted_solution: dict[str, str] | None
    solved_by: list[PersonRef] = Field(description="Who wrote the accepted solution, if any.")
    working_on: list[str] = Field(description="Names of the people who took the problem.")
    answer: CaseAnswer
    label: str = Field(description="How far the case got, in words the Ask page shows.")


class SimilarResponse(BaseModel):
    cases: list[SimilarCase]
    community: str | None = Field(description="The community the cases were limited to.")
    log_id: int | None = Field(
        description="Pass as ?s= when opening a case, for the search log (null when this "
        "lookup was not logged: too many from one visitor or address in a minute)."
    )


@router.post("/similar", response_model=SimilarResponse, tags=["search"])
def api_similar(
    request: Request,
    draft: Draft,
    engine: EngineDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> SimilarResponse:
    """Past problems similar to a draft, in the chosen community, each with how far it got:
    solved (and by whom), being worked on, answers proposed, or no answer yet."""
    community = (draft.community or "").strip() or None
    if community is not None and community not in {
        c.slug for c in browse.visible_communities(session, visibility)
    }:
        raise HTTPException(422, f"there is no community {community!r} to look in")
    text = f"{draft.title}\n{draft.body}".strip()[: engine.settings.max_query_chars]
    filters = SearchFilters.seen_by(visibility, kind="problem", community=community)
    results = engine.search(text, filters, limit=5)
    log_id = record_search(request, session, "ask", text, results, community)
    working = workers_by_external_id(session, [hit.id for hit in results.hits])
    cases = []
    for hit in results.hits:
        problem = browse.entry_by_external_id(session, hit.id, visibility)
        if problem is None:
            continue
        solutions = browse.solutions_of(session, problem, visibility)
        accepted = next((s for s in solutions if s.accepted), None)
        people = working.get(hit.id, [])
        answer, label = case_progress(accepted, people, len(solutions))
        cases.append(
            SimilarCase(
                id=hit.id,
                title=hit.title,
                status=hit.status,
                community=problem.community.slug,
                snippet=hit.snippet.text,
                score=hit.score,
                accepted_solution=(
                    {"id": accepted.external_id, "title": accepted.title} if accepted else None
                ),
                solved_by=(
                    [PersonRef(handle=accepted.author.handle, name=accepted.author.name)]
                    if accepted
                    else []
                ),
                working_on=people,
                answer=answer,
                label=label,
            )
        )
    return SimilarResponse(cases=cases, community=community, log_id=log_id)


def case_progress(
    accepted: Entry | None, working_on: list[str], solutions: int
) -> tuple[CaseAnswer, str]:
    """ "Solved by" only with an accepted solution; an open case says why it is open."""
    if accepted is not None:
        return "solved", f"Solved by {accepted.author.name}"
    if working_on:
        verb = "is" if len(working_on) == 1 else "are"
        return "working", f"Open — {' and '.join(working_on)} {verb} working on it"
    if solutions:
        answers = "1 answer" if solutions == 1 else f"{solutions} answers"
        return "proposed", f"Open — {answers} proposed, none accepted yet"
    return "open", "Open, no answer yet"


@router.get("/entries/{external_id}", response_model=EntryOut, tags=["entries"])
def api_entry(external_id: str, session: SessionDep, visibility: VisibilityDep) -> EntryOut:
    """An entry with its solutions (for a problem), reuse and feedback counts."""
    return EntryOut.from_entry(session, entry_or_404(session, external_id, visibility))


class PersonOut(BaseModel):
    id: str
    name: str
    title: str
    communities: list[str]
    solutions: list[str]
    accepted_solutions: int
    practices: list[str]
    problems: list[str]


@router.get("/people/{handle}", response_model=PersonOut, tags=["people"])
def api_person(handle: str, session: SessionDep, visibility: VisibilityDep) -> PersonOut:
    record = browse.person_record(session, handle, visibility)
    if record is None:
        raise HTTPException(404, f"nobody has the id {handle!r}")
    return PersonOut(
        id=record.person.handle,
        name=record.person.name,
        title=record.person.title,
        communities=browse.visible_community_slugs(session, record.person, visibility),
        solutions=[e.external_id for e in record.solutions],
        accepted_solutions=record.accepted,
        practices=[e.external_id for e in record.practices],
        problems=[e.external_id for e in record.problems],
    )
