"""A community's page, and managing its members (leaders, knowledge managers, admins)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.communities import may_manage, members_of, set_membership
from kb.models import Community, Entry, Person
from web.auth import FormWriterDep, ViewerDep, VisibilityDep, require_reader
from web.deps import SessionDep
from web.templating import templates

router = APIRouter(include_in_schema=False)
LATEST_ENTRIES = 50


def community_or_404(
    session: Session, slug: str, viewer: Person | None, can_see: bool
) -> Community:
    """The community, if the viewer may see it or manage its members. A members-only
    community is a 404 to everyone else, as if it did not exist."""
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None or not (can_see or (viewer is not None and may_manage(viewer, community))):
        raise HTTPException(404, f"no community has the id {slug!r}")
    return community


@router.get(
    "/communities/{slug}",
    response_class=HTMLResponse,
    name="community_page_view",
    dependencies=[Depends(require_reader)],
)
def community_page_view(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    visibility: VisibilityDep,
    slug: str,
) -> HTMLResponse:
    community = session.scalar(select(Community).where(Community.slug == slug))
    can_see = community is not None and visibility.can_see_community(community)
    community = community_or_404(session, slug, viewer, can_see)
    entries = (
        list(
            session.scalars(
                select(Entry)
                .where(Entry.community_id == community.id)
                .order_by(Entry.created_at.desc())
                .limit(LATEST_ENTRIES)
            )
        )
        if can_see
        else []
    )
    members = members_of(session, community)
    managing = viewer is not None and may_manage(viewer, community)
    others = (
        [p for p in session.scalars(select(Person).order_by(Person.name)) if p not in members]
        if managing
        else []
    )
    context = {
        "community": community,
        "entries": entries,
        "members": members,
        "can_see": can_see,
        "managing": managing,
        "others": others,
    }
    return templates.TemplateResponse(request, "community.html", context)


@router.post("/communities/{slug}/members")
def post_membership(
    session: SessionDep,
    person: FormWriterDep,
    visibility: VisibilityDep,
    slug: str,
    handle: Annotated[str, Form()],
    member: Annotated[str, Form()] = "1",
) -> Response:
    """Add (member=1) or remove (member=0) a member, from the community page."""
    community = session.scalar(select(Community).where(Community.slug == slug))
    can_see = community is not None and visibility.can_see_community(community)
    community = community_or_404(session, slug, person, can_see)
    target = session.scalar(select(Person).where(Person.handle == handle.strip()))
    if target is None:
        raise HTTPException(422, f"nobody is called {handle!r}")
    set_membership(session, person, community, target, member == "1")
    return RedirectResponse(f"/communities/{community.slug}#members", status_code=303)
