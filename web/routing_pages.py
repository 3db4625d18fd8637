"""Routing in the pages: who could help on an open problem, asking them, the inbox."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kb import routing as kb_routing
from kb.gaps import gaps_assigned_to
from kb.inbox import mark_seen
from kb.models import EmailSetting, Entry, Person
from kb.notifications import notifications_of
from search.routing import advise, next_person
from web.api_routing import chosen_experts
from web.auth import FormWriterDep, SignedInDep, VisibilityDep
from web.deps import EngineDep, FormText, RowId, SessionDep, entry_or_404, routing_or_404
from web.templating import templates

router = APIRouter(include_in_schema=False)
# The newest notifications the inbox shows (the API pages through all of them).
INBOX_NOTIFICATIONS = 50


def routing_context(
    request: Request, session: Session, engine: EngineDep, entry: Entry, viewer: Person | None
) -> dict[str, Any]:
    """For an open problem: the advice (who could help, and why) and who was asked."""
    if entry.kind != "problem":
        return {}
    routings = kb_routing.routings_of(session, entry)
    context: dict[str, Any] = {
        "routings": routings,
        "working_on": [r.person for r in routings if r.state == "taken"],
        "may_route": viewer is not None and kb_routing.may_route(viewer, entry),
        "advice": None,
    }
    if entry.status in ("open", "in_progress"):
        settings = request.app.state.settings
        context["advice"] = advise(
            engine,
            session,
            entry,
            threshold=settings.routing_threshold,
            limit=settings.routing_people,
        )
    return context


@router.post("/entries/{external_id}/route")
def post_route(
    request: Request,
    external_id: str,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    people: Annotated[list[str], Form()],
    note: FormText = "",
) -> Response:
    problem = entry_or_404(session, external_id, visibility)
    settings = request.app.state.settings
    advice = advise(
        engine,
        session,
        problem,
        threshold=settings.routing_threshold,
        limit=settings.routing_people,
    )
    experts = chosen_experts(session, advice.experts, people)
    kb_routing.route_problem(session, person, problem, experts, note)
    return RedirectResponse(f"/entries/{problem.external_id}#routing", status_code=303)


@router.get("/inbox", response_class=HTMLResponse, name="inbox_page")
def inbox_page(request: Request, person: SignedInDep, session: SessionDep) -> Response:
    items = kb_routing.inbox(session, person)
    unread = {item.id for item in items if item.read_at is None}
    gaps = gaps_assigned_to(session, person)
    unread_gaps = {gap.id for gap in gaps if gap.read_at is None}
    notifications = notifications_of(session, person, limit=INBOX_NOTIFICATIONS)
    response = templates.TemplateResponse(
        request,
        "inbox.html",
        {
            "items": items,
            "unread": unread,
            "gaps": gaps,
            "unread_gaps": unread_gaps,
            "notifications": notifications,
            "unread_notifications": {n.id for n in notifications if n.read_at is None},
            "email_settings": list(EmailSetting),
            "me": person,
        },
    )
    mark_seen(session, person, items, gaps, notifications)
    return response


@router.post("/routings/{routing_id}/take")
def post_take(
    routing_id: RowId, person: FormWriterDep, session: SessionDep, visibility: VisibilityDep
) -> Response:
    routing = routing_or_404(session, routing_id, visibility)
    kb_routing.take(session, person, routing)
    return RedirectResponse(f"/entries/{routing.problem.external_id}", status_code=303)


@router.post("/routings/{routing_id}/decline")
def post_decline(
    routing_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    note: FormText = "",
) -> Response:
    routing = routing_or_404(session, routing_id, visibility)
    successor = next_person(engine, session, routing.problem)
    kb_routing.decline(session, person, routing, note, successor)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/routings/{routing_id}/pass")
def post_pass(
    routing_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    to: FormText = "",
    note: FormText = "",
) -> Response:
    kb_routing.pass_to(session, person, routing_or_404(session, routing_id, visibility), to, note)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/me/availability")
def post_availability(
    person: FormWriterDep,
    session: SessionDep,
    away: FormText = "",
    routing_opt_out: FormText = "",
) -> Response:
    opt_out = routing_opt_out == "on"
    kb_routing.set_availability(session, person, away=away == "on", routing_opt_out=opt_out)
    return RedirectResponse("/inbox", status_code=303)
