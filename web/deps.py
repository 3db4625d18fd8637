"""Typed dependencies shared by the pages and the API."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy.orm import Session

from kb.browse import entry_by_external_id
from kb.models import Article, Entry, Routing
from search.engine import SearchEngine


def get_engine(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


EngineDep = Annotated[SearchEngine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
FormText = Annotated[str, Form()]


def entry_or_404(session: Session, external_id: str) -> Entry:
    entry = entry_by_external_id(session, external_id)
    if entry is None:
        raise HTTPException(404, f"no entry has the id {external_id!r}")
    return entry


def article_or_404(session: Session, external_id: str) -> Article:
    article = session.get(Article, entry_or_404(session, external_id).id)
    if article is None:
        raise HTTPException(404, f"{external_id} is not a repertoire article")
    return article


def routing_or_404(session: Session, routing_id: int) -> Routing:
    routing = session.get(Routing, routing_id)
    if routing is None:
        raise HTTPException(404, f"no request has the id {routing_id}")
    return routing
