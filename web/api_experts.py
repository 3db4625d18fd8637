"""GET /api/experts: who to ask about a problem, with the past cases that say why."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from kb.browse import community_visible
from search.experts import Expert
from search.routing import suggest_people
from web.auth import ReaderDep, VisibilityDep
from web.deps import EngineDep, SessionDep
from web.schemas import ErrorResponse

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}
router = APIRouter(prefix="/api", responses=ERRORS)


class ReasonOut(BaseModel):
    case_id: str
    title: str
    role: str
    entry_id: str
    similarity: float
    url: str


class ExpertOut(BaseModel):
    id: str
    name: str
    score: float
    url: str
    reasons: list[ReasonOut]
    # The strongest reasons in words, e.g. "solved 9 problems tagged `x` in the last 90 days".
    explanations: list[str] = []


class ExpertsResponse(BaseModel):
    query: str
    community: str | None
    experts: list[ExpertOut]

    @classmethod
    def from_experts(
        cls, query: str, community: str | None, experts: list[Expert]
    ) -> "ExpertsResponse":
        return cls(
            query=query,
            community=community,
            experts=[
                ExpertOut(
                    id=expert.person,
                    name=expert.name,
                    score=round(expert.score, 6),
                    url=f"/people/{expert.person}",
                    reasons=[
                        ReasonOut(
                            case_id=reason.case_id,
                            title=reason.title,
                            role=reason.role.value,
                            entry_id=reason.entry_id,
                            similarity=reason.similarity,
                            url=f"/entries/{reason.case_id}",
                        )
                        for reason in expert.reasons
                    ],
                    explanations=expert.explanations,
                )
                for expert in experts
            ],
        )


@router.get("/experts", response_model=ExpertsResponse, tags=["experts"])
def api_experts(
    engine: EngineDep,
    session: SessionDep,
    viewer: ReaderDep,
    visibility: VisibilityDep,
    q: Annotated[str, Query(description="The problem, in a few words or a few sentences.")],
    community: Annotated[str | None, Query(description="Only cases from this community.")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
) -> ExpertsResponse:
    """The people who solved problems like `q`, best first, each with the cases that say why.

    Never the person asking; people who are away or opted out of routing are left out,
    and people with many open requests come lower."""
    if community is not None and not community_visible(session, community, visibility):
        raise HTTPException(404, f"no community has the id {community!r}")
    experts = suggest_people(
        engine,
        session,
        q,
        asker=viewer,
        community=community,
        limit=limit,
        visibility=visibility,
    )
    return ExpertsResponse.from_experts(q.strip(), community, experts)
