"""Server-rendered pages: home, search, entry, person, community, ask."""

from math import ceil
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from kb import browse
from search.engine import QueryError
from search.filters import SearchFilters
from web.deps import EngineDep, SessionDep, templates

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 10
FACETS = ("kind", "community", "tag", "status")


@router.get("/", response_class=HTMLResponse, name="home")
def home(request: Request, session: SessionDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "home.html",
        {
            "problems": browse.recent_problems(session, 12),
            "communities": browse.community_summaries(session),
        },
    )


@router.get("/search", response_class=HTMLResponse, name="search_page")
def search_page(
    request: Request,
    engine: EngineDep,
    q: str = "",
    kind: str | None = None,
    community: str | None = None,
    tag: str | None = None,
    status: str | None = None,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> HTMLResponse:
    filters = {"kind": kind, "community": community, "tag": tag, "status": status}
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
        results = engine.search(
            q,
            SearchFilters(**filters),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            with_facets=True,
        )
    except QueryError as error:
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": 400, "heading": "That search cannot run", "message": str(error)},
            status_code=400,
        )

    def url(**changes: object) -> str:
        params = {"q": q, **filters, "page": page, **changes}
        return "/search?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})

    return templates.TemplateResponse(
        request,
        "search.html",
        {
            "query": q,
            "results": results,
            "filters": filters,
            "page": page,
            "pages": max(1, ceil(results.total / PAGE_SIZE)),
            "facet_url": lambda name, value: url(**{name: value, "page": 1}),
            "page_url": lambda number: url(page=number),
        },
    )


@router.get("/entries/{external_id}", response_class=HTMLResponse, name="entry_page")
def entry_page(request: Request, session: SessionDep, external_id: str) -> HTMLResponse:
    entry = browse.entry_by_external_id(session, external_id)
    if entry is None:
        raise HTTPException(404, f"no entry has the id {external_id!r}")
    return templates.TemplateResponse(
        request,
        "entry.html",
        {
            "entry": entry,
            "problem": entry.solves,
            "solutions": browse.solutions_of(session, entry) if entry.kind == "problem" else [],
        },
    )


@router.get("/people/{handle}", response_class=HTMLResponse, name="person_page")
def person_page(request: Request, session: SessionDep, handle: str) -> HTMLResponse:
    record = browse.person_record(session, handle)
    if record is None:
        raise HTTPException(404, f"nobody has the id {handle!r}")
    return templates.TemplateResponse(request, "person.html", {"record": record})


@router.get("/communities/{slug}", response_class=HTMLResponse, name="community_page_view")
def community_page_view(request: Request, session: SessionDep, slug: str) -> HTMLResponse:
    found = browse.community_page(session, slug)
    if found is None:
        raise HTTPException(404, f"no community has the id {slug!r}")
    community, entries, members = found
    return templates.TemplateResponse(
        request, "community.html", {"community": community, "entries": entries, "members": members}
    )


@router.get("/ask", response_class=HTMLResponse, name="ask_page")
def ask_page(request: Request, title: Annotated[str, Query(max_length=500)] = "") -> HTMLResponse:
    return templates.TemplateResponse(request, "ask.html", {"title": title})
