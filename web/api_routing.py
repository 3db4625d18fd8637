"""The JSON API for routing: advice on an open problem, asking people, the inbox, and
taking, declining or passing a request."""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb import routing as kb_routing
from kb.models import Person, Routing
from kb.routing import AskedPerson
from kb.visibility import Visibility
from search.experts import Expert
from search.routing import RoutingAdvice, advise, asked_person, next_person
from web.api_experts import ExpertsResponse
from web.auth import ApiWriterDep, ReaderDep, SignedInDep, VisibilityDep
from web.deps import EngineDep, RowId, SessionDep, entry_or_404, routing_or_404
from web.schemas import ErrorResponse
from web.timestamps import UtcDateTime

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 422)
}
router = APIRouter(prefix="/api", responses=ERRORS)
EntryId = Annotated[str, Path(description="The problem's id, as shown on its page.")]


class RoutingOut(BaseModel):
    id: int
    problem: str
    problem_title: str
    person: str
    state: str
    routed_by: str | None
    escalation: bool
    note: str
    reasons: list[dict[str, object]]
    created_at: UtcDateTime
    updated_at: UtcDateTime
    read: bool

    @classmethod
    def from_routing(cls, routing: Routing) -> "RoutingOut":
        return cls(
            id=routing.id,
            problem=routing.problem.external_id,
            problem_title=routing.problem.title,
            person=routing.person.handle,
            state=routing.state,
            routed_by=routing.routed_by.handle if routing.routed_by else None,
            escalation=routing.escalation,
            note=routing.note,
            reasons=list(routing.reasons),
            created_at=routing.created_at,
            updated_at=routing.updated_at,
            read=routing.read_at is not None,
        )


class AdviceOut(BaseModel):
    problem: str
    should_route: bool
    best_match: str | None
    best_similarity: float | None
    experts: ExpertsResponse
    routings: list[RoutingOut]


class RouteIn(BaseModel):
    people: list[str] | None = Field(
        default=None, description="Handles to ask; default: kb's suggestions.", max_length=20
    )
    note: str = Field(default="", max_length=2000)


class DeclineIn(BaseModel):
    note: str = Field(default="", max_length=2000)


class PassIn(BaseModel):
    to: str = Field(description="Handle of the person to pass it to.", max_length=100)
    note: str = Field(default="", max_length=2000)


class InboxOut(BaseModel):
    unread: int
    items: list[RoutingOut]


class AvailabilityIn(BaseModel):
    away: bool | None = None
    routing_opt_out: bool | None = None


class AvailabilityOut(BaseModel):
    id: str
    away: bool
    routing_opt_out: bool


def advice_for(
    request: Request,
    session: Session,
    visibility: Visibility,
    engine: EngineDep,
    external_id: str,
) -> RoutingAdvice:
    settings = request.app.state.settings
    problem = entry_or_404(session, external_id, visibility)
    if problem.kind != "problem":
        raise HTTPException(422, f"{external_id} is a {problem.kind}; only problems are routed")
    return advise(
        engine,
        session,
        problem,
        threshold=settings.routing_threshold,
        limit=settings.routing_people,
    )


@router.get("/problems/{external_id}/advice", response_model=AdviceOut, tags=["routing"])
def api_advice(
    request: Request,
    external_id: EntryId,
    _reader: ReaderDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
) -> AdviceOut:
    """Is there an answer close enough? If not, who should be asked, and why."""
    advice = advice_for(request, session, visibility, engine, external_id)
    problem = entry_or_404(session, external_id, visibility)
    return AdviceOut(
        problem=external_id,
        should_route=advice.should_route,
        best_match=advice.best_match.external_id if advice.best_match else None,
        best_similarity=advice.best_similarity,
        experts=ExpertsResponse.from_experts(problem.title, None, advice.experts),
        routings=[RoutingOut.from_routing(r) for r in kb_routing.routings_of(session, problem)],
    )


def chosen_experts(
    session: Session, suggested: list[Expert], handles: list[str] | None
) -> list[AskedPerson]:
    """kb's suggestions, or the people named, keeping kb's reasons where it has them."""
    if handles is None:
        return [asked_person(expert) for expert in suggested]
    by_handle = {expert.person: expert for expert in suggested}
    chosen = []
    for handle in handles:
        if handle in by_handle:
            chosen.append(asked_person(by_handle[handle]))
        else:
            person = session.scalar(select(Person).where(Person.handle == handle))
            if person is None:
                raise HTTPException(422, f"nobody is called {handle!r}")
            chosen.append(AskedPerson(person.handle))
    return chosen


@router.post(
    "/problems/{external_id}/route",
    response_model=list[RoutingOut],
    status_code=201,
    tags=["routing"],
)
def api_route(
    request: Request,
    external_id: EntryId,
    payload: RouteIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
) -> list[RoutingOut]:
    """Ask people about an open problem (its asker or a tutor): it lands in their inboxes."""
    advice = advice_for(request, session, visibility, engine, external_id)
    problem = entry_or_404(session, external_id, visibility)
    experts = chosen_experts(session, advice.experts, payload.people)
    routings = kb_routing.route_problem(session, person, problem, experts, payload.note)
    return [RoutingOut.from_routing(r) for r in routings]


@router.get("/inbox", response_model=InboxOut, tags=["routing"])
def api_inbox(person: SignedInDep, session: SessionDep) -> InboxOut:
    """Problems asked of you, open ones first."""
    items = kb_routing.inbox(session, person)
    return InboxOut(
        unread=kb_routing.unread_count(session, person),
        items=[RoutingOut.from_routing(r) for r in items],
    )


@router.post("/routings/{routing_id}/take", response_model=RoutingOut, tags=["routing"])
def api_take(
    routing_id: RowId, person: ApiWriterDep, session: SessionDep, visibility: VisibilityDep
) -> RoutingOut:
    """Take the problem: everyone who finds it sees that you are working on it."""
    routing = routing_or_404(session, routing_id, visibility)
    kb_routing.take(session, person, routing)
    return RoutingOut.from_routing(routing)


@router.post("/routings/{routing_id}/decline", response_model=list[RoutingOut], tags=["routing"])
def api_decline(
    routing_id: RowId,
    payload: DeclineIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
) -> list[RoutingOut]:
    """Decline; kb asks the next suggested person. Answers with both requests."""
    routing = routing_or_404(session, routing_id, visibility)
    successor = kb_routing.decline(
        session, person, routing, payload.note, next_person(engine, session, routing.problem)
    )
    return [RoutingOut.from_routing(r) for r in (routing, successor) if r is not None]


@router.post("/routings/{routing_id}/pass", response_model=list[RoutingOut], tags=["routing"])
def api_pass(
    routing_id: RowId,
    payload: PassIn,
    person: ApiWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> list[RoutingOut]:
    """Pass the problem on to someone better placed. Answers with both requests."""
    routing = routing_or_404(session, routing_id, visibility)
    passed = kb_routing.pass_to(session, person, routing, payload.to, payload.note)
    return [RoutingOut.from_routing(routing), RoutingOut.from_routing(passed)]


@router.patch("/me", response_model=AvailabilityOut, tags=["accounts"])
def api_availability(
    payload: AvailabilityIn, person: ApiWriterDep, session: SessionDep
) -> AvailabilityOut:
    """Mark yourself away, or opt out of routing; kb then suggests other people."""
    kb_routing.set_availability(
        session, person, away=payload.away, routing_opt_out=payload.routing_opt_out
    )
    return AvailabilityOut(
        id=person.handle, away=person.away, routing_opt_out=person.routing_opt_out
    )
