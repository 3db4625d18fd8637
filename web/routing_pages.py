"""Routing in the pages: who could help on an open problem, asking them, the inbox."""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kb import routing as kb_routing
from kb.errors import InvalidContribution
from kb.gaps import gaps_assigned_to
from kb.inbox import mark_seen
from kb.models import EmailSetting, Entry, Person
from kb.notifications import notifications_of
from search.pass_choices import pass_choices
from search.routing import advise, next_person
from search.snippets import plain_text
from web.api_routing import chosen_experts
from web.auth import FormWriterDep, SignedInDep, VisibilityDep
from web.deps import EngineDep, FormText, RowId, SessionDep, entry_or_404, routing_or_404
from web.flash import FlashKind, flash
from web.templating import templates

router = APIRouter(include_in_schema=False)
# The newest notifications the inbox shows (the API pages through all of them).
INBOX_NOTIFICATIONS = 50
# Open requests whose Pass on offers a list of people (suggesting them is a search each);
# further ones, rare, take a typed name or user name only.
PICKERS = 5  # about 75 ms each, measured with the demo on a busy 2-core machine
# How an inbox card words the state of a request (an "asked" one needs no word).
INBOX_STATE_WORDS = {
    "taken": "you are working on it",
    "declined": "you declined",
    "passed": "you passed it on",
    "closed": "solved",
}
# How much of a problem's text an inbox card shows.
EXCERPT_CHARS = 200


# How the routing panel words the state of each person asked.
ROUTING_STATE_WORDS = {
    "asked": "asked, no answer yet",
    "taken": "working on it",
    "declined": "declined",
    "passed": "passed it on",
    "closed": "done: the problem is solved",
}


def routing_context(
    request: Request, session: Session, engine: EngineDep, entry: Entry, viewer: Person | None
) -> dict[str, Any]:
    """For a problem: who was asked and how far they got; while it is open (nobody took
    it, nothing accepted) also the advice: who could help, and why."""
    if entry.kind != "problem":
        return {}
    routings = kb_routing.routings_of(session, entry)
    context: dict[str, Any] = {
        "routings": routings,
        "routing_state_words": ROUTING_STATE_WORDS,
        "working_on": [r.person for r in routings if r.state == "taken"],
        "may_route": viewer is not None and kb_routing.may_route(viewer, entry),
        "advice": None,
    }
    if entry.status == "open":  # taken or solved: nobody more needs asking
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
    people: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies defaults)
    note: FormText = "",
) -> Response:
    problem = entry_or_404(session, external_id, visibility)
    if not people:
        flash(request, "Nobody was asked: tick the people to ask first", FlashKind.ERROR)
        return RedirectResponse(f"/entries/{problem.external_id}#routing", status_code=303)
    settings = request.app.state.settings
    advice = advise(
        engine,
        session,
        problem,
        threshold=settings.routing_threshold,
        limit=settings.routing_people,
    )
    experts = chosen_experts(session, advice.experts, people)
    asked = kb_routing.route_problem(session, person, problem, experts, note)
    flash(request, f"Asked {names_of([r.person for r in asked])}: it is in their inbox now")
    return RedirectResponse(f"/entries/{problem.external_id}#routing", status_code=303)


@router.get("/inbox", response_class=HTMLResponse, name="inbox_page")
def inbox_page(
    request: Request, person: SignedInDep, session: SessionDep, engine: EngineDep
) -> Response:
    return inbox_response(request, session, engine, person)


def inbox_response(
    request: Request,
    session: Session,
    engine: EngineDep,
    person: Person,
    pass_error: tuple[int, str, str] | None = None,
) -> Response:
    """The inbox; `pass_error` (request id, what was typed, why) shows a failed Pass on
    in its card, with a 422."""
    items = kb_routing.inbox(session, person)
    active = [item for item in items if item.state in kb_routing.ACTIVE_STATES]
    unread = {item.id for item in items if item.read_at is None}
    gaps = gaps_assigned_to(session, person)
    unread_gaps = {gap.id for gap in gaps if gap.read_at is None}
    notifications = notifications_of(session, person, limit=INBOX_NOTIFICATIONS)
    response = templates.TemplateResponse(
        request,
        "inbox.html",
        {
            "items": active,
            "done": [item for item in items if item.state not in kb_routing.ACTIVE_STATES],
            "excerpts": {item.id: excerpt(item.problem.body) for item in items},
            "pass_choices": {
                item.id: pass_choices(engine, session, item) for item in active[:PICKERS]
            },
            "pass_error": pass_error,
            "state_words": INBOX_STATE_WORDS,
            "unread": unread,
            "gaps": gaps,
            "unread_gaps": unread_gaps,
            "notifications": notifications,
            "unread_notifications": {n.id for n in notifications if n.read_at is None},
            "email_settings": list(EmailSetting),
            "me": person,
        },
        status_code=422 if pass_error else 200,
    )
    mark_seen(session, person, items, gaps, notifications)
    return response


def excerpt(markdown: str, chars: int = EXCERPT_CHARS) -> str:
    """The start of a problem's text as plain words, cut at a word."""
    text = plain_text(markdown)
    if len(text) <= chars:
        return text
    return text[:chars].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


@router.post("/routings/{routing_id}/take")
def post_take(
    request: Request,
    routing_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
) -> Response:
    routing = routing_or_404(session, routing_id, visibility)
    kb_routing.take(session, person, routing)
    flash(request, "Taken: it's in your inbox, and the asker sees you are working on it")
    return RedirectResponse(f"/entries/{routing.problem.external_id}", status_code=303)


@router.post("/routings/{routing_id}/decline")
def post_decline(
    request: Request,
    routing_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    note: FormText = "",
) -> Response:
    routing = routing_or_404(session, routing_id, visibility)
    successor = next_person(engine, session, routing.problem)
    asked = kb_routing.decline(session, person, routing, note, successor)
    onward = f"; it goes on to {asked.person.name}" if asked is not None else ""
    flash(request, f"Declined{onward}", FlashKind.INFO)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/routings/{routing_id}/pass")
def post_pass(
    request: Request,
    routing_id: RowId,
    person: FormWriterDep,
    session: SessionDep,
    visibility: VisibilityDep,
    engine: EngineDep,
    to: FormText = "",
    note: FormText = "",
) -> Response:
    routing = routing_or_404(session, routing_id, visibility)
    try:
        passed = kb_routing.pass_to(session, person, routing, to, note)
    except InvalidContribution as error:  # the inbox again, the reason in the card
        return inbox_response(request, session, engine, person, (routing.id, to, str(error)))
    flash(request, f"Passed on to {passed.person.name}")
    return RedirectResponse("/inbox", status_code=303)


@router.post("/me/availability")
def post_availability(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    away: FormText = "",
    routing_opt_out: FormText = "",
) -> Response:
    opt_out = routing_opt_out == "on"
    kb_routing.set_availability(session, person, away=away == "on", routing_opt_out=opt_out)
    flash(request, "Availability saved")
    return RedirectResponse("/inbox", status_code=303)


def names_of(people: list[Person]) -> str:
    """'Ana', 'Ana and Ben', 'Ana, Ben and Cy'."""
    names = [person.name for person in people]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
