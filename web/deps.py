"""Typed dependencies shared by the pages and the API."""

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from search.engine import SearchEngine
from web.rendering import marked_snippet, render_markdown

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals.update(markdown=render_markdown, snippet=marked_snippet)


def get_engine(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session


EngineDep = Annotated[SearchEngine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
