"""The FastAPI app factory. Everything the app needs hangs off app.state."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select

from indexer.embedder import load_embedder
from kb.database import Database
from kb.models import Entry
from kb.settings import Settings
from search.engine import SearchEngine
from web import api, pages
from web.deps import EngineDep
from web.errors import install_error_handlers
from web.schemas import Health


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
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz(engine: EngineDep) -> Health:
        with engine.database.session() as session:
            entries = session.scalar(select(func.count(Entry.id))) or 0
        return Health(
            status="ok",
            entries=entries,
            index_vectors=len(engine.index),
            index_model=engine.index.model_id,
        )

    return app
