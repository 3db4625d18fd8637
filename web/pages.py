"""Server-rendered pages: home, search, entry, person, community, ask."""

from datetime import UTC, date, datetime, timedelta
from math import ceil
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from kb import browse
from kb import contributions as kb_write
from kb.attachments import attachments_of
from kb.history import events_of
from kb.models import Entry, Person
from kb.reviews import overdue_articles
from kb.routing import workers_by_external_id
from kb.search_log import mark_opened
from kb.visibility import Visibility
from search.date_range import Since, created_range
from search.engine import QueryError, SearchSort
from search.filters import SearchFilters
from web.auth import ViewerDep, VisibilityDep, require_reader, visitor_key
from web.deps import MAX_ROW_ID, EngineDep, SessionDep, entry_or_404
from web.repertoire_pages import entry_lifecycle_context
from web.routing_pages import routing_context
from web.search_logging import record_search
from web.templating import templates

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_reader)])
PAGE_SIZE = 10
# Saving an entry touches updated_at a moment after created_at: not an edit.
EDITED_AFTER = timedelta(minutes=1)
FACETS = ("kind", "community", "tag", "status")


@router.get("/", response_class=HTMLResponse, name="home")
def home(request: Request, session: SessionDep, visibility: VisibilityDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "problems": browse.recent_problems(session, visibility, 12),
            "communities": browse.community_summaries(session, visibility),
        },
    )


@router.get("/search", response_class=HTMLResponse, name="search_page")
def search_page(
    request: Request,
    engine: EngineDep,
    session: SessionDep,
    visibility: VisibilityDep,
    q: str = "",
    kind: str | None = None,
    community: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    sort: SearchSort = SearchSort.RELEVANCE,
    since: Since = Since.ANY,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    filters = {"kind": kind, "community": community, "tag": tag, "status": status}
    # Kept in every link of the page, as the filters are (the defaults left out).
    choices = {
        "sort": None if sort == SearchSort.RELEVANCE else sort.value,
        "since": None if since == Since.ANY else since.value,
        "from": date_from.isoformat() if date_from else None,
        "to": date_to.isoformat() if date_to else None,
    }
    if not q.strip():
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "status": 400,
                "heading": "What are you looking for?",
                "message": "Type a few words, a question or an error code in the search box.",
            },
            status_code=400,
        )
    try:
        created_from, created_to = created_range(
            since, date_from, date_to, datetime.now(UTC).date()
        )
        results = engine.search(
            q,
            SearchFilters.seen_by(
                visibility,
                kind=kind,
                community=community,
                tag=tag,
                status=status,
                created_from=created_from,
                created_to=created_to,
            ),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            with_facets=True,
            sort=sort,
        )
    except QueryError as error:
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": 400, "heading": "That search cannot run", "message": str(error)},
            status_code=400,
        )

    log_id = None
    if page == 1:
        log_id = record_search(request, session, "search", q, results, community)

    def url(**changes: object) -> str:
        params = {"q": q, **filters, **choices, "page": page, **changes}
        return "/search?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    return templates.TemplateResponse(
        request,
        "search.html",
        {
            "query": q,
            "results": results,
            "filters": filters,
            "choices": choices,
            "sort": sort.value,
            "since": since,
            "periods": list(Since),
            "date_from": choices["from"] or "",
            "date_to": choices["to"] or "",
            "page": page,
            "pages": max(1, ceil(results.total / PAGE_SIZE)),
            "facet_url": lambda name, value: url(**{name: value, "page": 1}),
            "page_url": lambda number: url(page=number),
            "choice_url": lambda **changes: url(**changes, page=1),
            "working_on": workers_by_external_id(session, [hit.id for hit in results.hits]),
            "log_id": log_id,
            "overdue": overdue_articles(session, [hit.id for hit in results.hits]),
        },
    )


@router.get("/entries/{external_id}", response_class=HTMLResponse, name="entry_page")
def entry_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    viewer: ViewerDep,
    visibility: VisibilityDep,
    external_id: str,
    search_log_id: Annotated[int | None, Query(alias="s", ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    entry = entry_or_404(session, external_id, visibility)
    if search_log_id is not None:  # opened from a logged search
        mark_opened(session, search_log_id, visitor_key(request), entry.id)
    context = entry_context(session, entry, viewer, visibility)
    context.update(routing_context(request, session, engine, entry, viewer))
    context.update(entry_lifecycle_context(session, entry, viewer))
    return templates.TemplateResponse(request, "entry.html", context)


def entry_context(
    session: Session, entry: Entry, viewer: Person | None, visibility: Visibility, **extra: Any
) -> dict[str, Any]:
    """What the entry page shows; form handlers reuse it to show an error in place."""
    solutions = browse.solutions_of(session, entry, visibility) if entry.kind == "problem" else []
    shown = [entry.id, *(s.id for s in solutions)]
    revisions = len(kb_write.revisions_of(session, entry))
    return {
        "entry": entry,
        "problem": entry.solves,
        "solutions": solutions,
        "counts": kb_write.feedback_counts(session, shown),
        # What the viewer gave: the feedback buttons show as pressed.
        "given": kb_write.feedback_given(session, viewer, shown) if viewer is not None else {},
        "flags": kb_write.flags_of(session, entry),
        "comments": kb_write.comments_of(session, entry),
        "revisions": revisions,
        "edited": was_edited(entry, revisions),
        "attachments": attachments_of(session, shown),
        "may_accept": viewer is not None
        and entry.kind == "problem"
        and kb_write.may_accept(viewer, entry),
        "may_edit": viewer is not None and kb_write.may_edit(viewer, entry),
        "form": {},
        "error": None,
        **extra,
    }


def was_edited(entry: Entry, revisions: int) -> bool:
    """Worth an "updated" on the page: edited after posting (a second revision), or
    changed more than a minute after it was created."""
    return revisions > 1 or entry.updated_at - entry.created_at > EDITED_AFTER


@router.get("/entries/{external_id}/revisions", response_class=HTMLResponse, name="revisions_page")
def revisions_page(
    request: Request, session: SessionDep, visibility: VisibilityDep, external_id: str
) -> HTMLResponse:
    entry = entry_or_404(session, external_id, visibility)
    revisions = kb_write.revisions_of(session, entry)
    changes = [
        (revision, revision_diff(previous, revision))
        for previous, revision in zip([None, *revisions][: len(revisions)], revisions, strict=True)
    ]
    events = list(reversed(events_of(session, entry)))
    return templates.TemplateResponse(
        request,
        "revisions.html",
        {"entry": entry, "changes": list(reversed(changes)), "events": events},
    )


def revision_diff(previous: Any, revision: Any) -> list[str]:
    """Unified-diff lines between two revisions (title, tags and body)."""
    import difflib

    def lines(item: Any) -> list[str]:
        if item is None:
            return []
        return [f"# {item.title}", f"tags: {', '.join(item.tags)}", "", *item.body.splitlines()]

    return list(difflib.unified_diff(lines(previous), lines(revision), lineterm="", n=2))[2:]


@router.get("/people/{handle}", response_class=HTMLResponse, name="person_page")
def person_page(
    request: Request, session: SessionDep, visibility: VisibilityDep, handle: str
) -> HTMLResponse:
    record = browse.person_record(session, handle, visibility)
    if record is None:
        raise HTTPException(404, f"nobody has the id {handle!r}")
    communities = browse.visible_community_slugs(session, record.person, visibility)
    return templates.TemplateResponse(
        request, "person.html", {"record": record, "communities": communities}
    )


@router.get("/ask", response_class=HTMLResponse, name="ask_page")
def ask_page(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    visibility: VisibilityDep,
    title: Annotated[str, Query(max_length=500)] = "",
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "ask.html", capture_context(session, viewer, visibility, {"title": title})
    )


@router.get("/capture", response_class=HTMLResponse, name="capture_page")
def capture_page(
    request: Request, session: SessionDep, viewer: ViewerDep, visibility: VisibilityDep
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "capture.html", capture_context(session, viewer, visibility, {})
    )


def capture_context(
    session: Session,
    viewer: Person | None,
    visibility: Visibility,
    form: dict[str, str],
    error: str | None = None,
) -> dict[str, Any]:
    communities = browse.visible_communities(session, visibility)
    home = viewer.communities[0] if viewer is not None and viewer.communities else "general"
    return {
        "form": {"community": home, **form},
        "communities": communities,
        "error": error,
    }
