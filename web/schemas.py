"""The JSON shapes of the API, kept apart from the database models."""

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from kb import browse
from kb.contributions import feedback_counts
from kb.models import Entry
from search.engine import SearchHit, SearchResults
from web.timestamps import UtcDateTime


class SnippetOut(BaseModel):
    text: str
    highlights: list[tuple[int, int]]


class AcceptedSolutionOut(BaseModel):
    id: str
    title: str
    author: str = Field(description="The author's handle (their page: /people/{author}).")
    author_name: str = Field(description="The author's name, as people read it.")


class HitOut(BaseModel):
    id: str
    kind: str
    title: str
    status: str
    community: str
    author: str = Field(description="The author's handle (their page: /people/{author}).")
    author_name: str = Field(description="The author's name, as people read it.")
    tags: list[str]
    created_at: UtcDateTime
    score: float
    dense_score: float | None
    keyword_score: float | None
    snippet: SnippetOut
    accepted_solution: AcceptedSolutionOut | None
    solves: str | None
    answers: int = Field(description="Solutions of a problem (0 for other kinds).")
    helpful_count: int = Field(description='How many marked it "helpful".')
    reuse_count: int = Field(description='How many said "this solved my case too".')
    being_worked_on_by: list[str] = []

    @classmethod
    def from_hit(cls, hit: SearchHit) -> "HitOut":
        return cls(
            id=hit.id,
            kind=hit.kind,
            title=hit.title,
            status=hit.status,
            community=hit.community,
            author=hit.author,
            author_name=hit.author_name,
            tags=hit.tags,
            created_at=hit.created_at,
            score=hit.score,
            dense_score=hit.dense_score,
            keyword_score=hit.keyword_score,
            snippet=SnippetOut(text=hit.snippet.text, highlights=hit.snippet.highlights),
            accepted_solution=AcceptedSolutionOut(**vars(hit.accepted_solution))
            if hit.accepted_solution
            else None,
            solves=hit.solves,
            answers=hit.answers,
            helpful_count=hit.helpful,
            reuse_count=hit.reused,
        )


class SearchResponse(BaseModel):
    query: str
    mode: str
    sort: str
    total: int = Field(
        description="Matches: entries above the relevance floor (KB_MATCH_SHARE, "
        "KB_MIN_SIMILARITY) that pass the filters."
    )
    offset: int
    limit: int
    hits: list[HitOut]

    @classmethod
    def from_results(cls, results: SearchResults) -> "SearchResponse":
        return cls(
            query=results.query,
            mode=results.mode.value,
            sort=results.sort.value,
            total=results.total,
            offset=results.offset,
            limit=results.limit,
            hits=[HitOut.from_hit(hit) for hit in results.hits],
        )


class ErrorBody(BaseModel):
    status: int
    code: str
    message: str
    details: list[dict[str, object]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    # Only for an admin or knowledge manager; an anonymous caller gets the status alone.
    entries: int | None = None
    index_vectors: int | None = None
    index_model: str | None = None


class EntryOut(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    status: str
    tags: list[str]
    author: str
    community: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    solves: str | None
    accepted: bool
    solutions: list[str]
    reuse_count: int
    helpful_count: int
    flag_count: int

    @classmethod
    def from_entry(cls, session: Session, entry: Entry) -> "EntryOut":
        solutions = browse.solutions_of(session, entry) if entry.kind == "problem" else []
        counts = feedback_counts(session, [entry.id])[entry.id]
        return cls(
            id=entry.external_id,
            kind=entry.kind,
            title=entry.title,
            body=entry.body,
            status=entry.status,
            tags=list(entry.tags),
            author=entry.author.handle,
            community=entry.community.slug,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            solves=entry.solves.external_id if entry.solves else None,
            accepted=entry.accepted,
            solutions=[s.external_id for s in solutions],
            reuse_count=counts["reuse"],
            helpful_count=counts["helpful"],
            flag_count=counts["flag"],
        )
