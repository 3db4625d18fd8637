"""The FastAPI app factory. Everything the app needs hangs off app.state."""

from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request

from indexer.embedder import load_embedder
from kb.database import Database
from kb.settings import Settings
from search.engine import SearchEngine, SearchMode
from search.filters import SearchFilters
from web.errors import install_error_handlers
from web.schemas import ErrorResponse, Health, SearchResponse


def get_engine(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.engine
    return engine


EngineDep = Annotated[SearchEngine, Depends(get_engine)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    database = Database.from_settings(settings)
    database.create_schema()
    embedder = load_embedder(settings.embedding_model, settings.embedding_batch_size)
    engine = SearchEngine.open(settings, database, embedder)

    app = FastAPI(
        title="kb",
        summary="Search what your organisation already knows, before you ask.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.database = database
    app.state.engine = engine
    install_error_handlers(app)

    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz(engine: EngineDep) -> Health:
        from sqlalchemy import func, select

        from kb.models import Entry

        with engine.database.session() as session:
            entries = session.scalar(select(func.count(Entry.id))) or 0
        return Health(
            status="ok",
            entries=entries,
            index_vectors=len(engine.index),
            index_model=engine.index.model_id,
        )

    @app.get("/api/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
    def api_search(
        engine: EngineDep,
        q: Annotated[str, Query(description="Words, a question or an error code.")],
        kind: Literal["problem", "solution", "practice"] | None = None,
        community: str | None = None,
        tag: str | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
        mode: SearchMode = SearchMode.HYBRID,
    ) -> SearchResponse:
        """Hybrid search (meaning + exact words) with optional filters."""
        filters = SearchFilters(kind=kind, community=community, tag=tag, status=status)
        results = engine.search(q, filters, limit=limit, offset=offset, mode=mode)
        return SearchResponse.from_results(results)

    return app
