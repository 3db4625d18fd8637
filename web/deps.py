"""Typed dependencies shared by the pages and the API."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kb.browse import entry_by_external_id
from kb.models import Article, Entry, Routing
from kb.visibility import Visibility
from search.engine import SearchEngine


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` on a
# worker thread, and each hop there and back costs about 0.1 ms of CPU.
async def get_engine(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.engine
    return engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. It connects when first used (in a `def` endpoint, on a
    worker thread); closing it then returns the connection, so that also runs there."""
    session: Session = request.app.state.database.sessionmaker()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


EngineDep = Annotated[SearchEngine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
FormText = Annotated[str, Form()]
# Row ids are INTEGER columns: 32-bit on PostgreSQL (64-bit on SQLite). A larger number in
# a path is refused (422) before it reaches a query, where it would overflow the column's
# or the driver's integer type.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def entry_or_404(session: Session, external_id: str, visibility: Visibility) -> Entry:
    """The entry, if the viewer may see it. One they may not (a members-only community's)
    gets the same 404 as one that does not exist, so its id tells nothing."""
    entry = entry_by_external_id(session, external_id, visibility)
    if entry is None:
        raise HTTPException(404, f"no entry has the id {external_id!r}")
    return entry


def article_or_404(session: Session, external_id: str, visibility: Visibility) -> Article:
    article = session.get(Article, entry_or_404(session, external_id, visibility).id)
    if article is None:
        raise HTTPException(404, f"{external_id} is not a repertoire article")
    return article


def routing_or_404(session: Session, routing_id: int, visibility: Visibility) -> Routing:
    routing = session.get(Routing, routing_id)
    if routing is None or not visibility.can_see(routing.problem):
        raise HTTPException(404, f"no request has the id {routing_id}")
    return routing
