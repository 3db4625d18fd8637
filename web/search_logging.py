"""Writing the search log from the pages and the Ask page's lookups."""

from fastapi import Request
from sqlalchemy.orm import Session

from kb.search_log import log_search
from search.engine import SearchResults
from web.auth import visitor_key


def record_search(
    request: Request,
    session: Session,
    kind: str,
    query: str,
    results: SearchResults,
    community: str | None,
) -> int:
    """Log a page search or an Ask draft; returns the log row's id for ?s= links."""
    settings = request.app.state.settings
    viewer = getattr(request.state, "viewer", None)
    dense = [hit.dense_score for hit in results.hits if hit.dense_score is not None]
    entry = log_search(
        session,
        kind=kind,
        query=query,
        hits=results.total,
        best_similarity=max(dense) if dense else None,
        visitor=visitor_key(request),
        community=community,
        person=viewer if settings.log_searcher_identity else None,
    )
    session.commit()
    return entry.id
