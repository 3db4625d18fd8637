"""The FastAPI app factory. Everything the app needs hangs off app.state."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import func, select
from starlette.middleware.sessions import SessionMiddleware

from indexer.embedder import embedder_for
from kb.database import Database
from kb.models import Entry
from kb.settings import Settings
from search.engine import SearchEngine
from web import (
    account_pages,
    api,
    api_experts,
    api_repertoire,
    api_routing,
    api_write,
    console_pages,
    form_pages,
    pages,
    repertoire_pages,
    routing_pages,
)
from web.auth import SignInThrottle
from web.deps import EngineDep
from web.errors import install_error_handlers
from web.limits import BodySizeLimit
from web.schemas import Health
from web.search_logging import SearchLogLimit

# Swagger UI's files as the fastapi-offline package ships them, so /docs works offline.
# The largest entry is 50,000 characters; 2 MB leaves room for JSON escaping and UTF-8.
MAX_REQUEST_BYTES = 2_000_000
SWAGGER_UI_FILES = Path(fastapi_offline.__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    database = Database.from_settings(settings)
    database.create_schema()
    # Requests run side by side, each embedding one query: one core per query each.
    embedder = embedder_for(settings, threads=1)
    engine = SearchEngine.open(settings, database, embedder)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What startup built (model, index, mappings: about 170,000 objects) lives as long
        # as the app. Left out of the cycle collector's full passes, which took 60 to 70 ms
        # every few hundred requests while every request in the process waited.
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()
        engine.close()
        database.dispose()  # closes pooled connections rather than leaving them to the GC

    app = FastAPI(
        lifespan=lifespan,
        title="kb",
        summary="Search what your organisation already knows, before you ask.",
        version="0.1.0",
        docs_url=None,  # served below from local files: the default page loads a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.engine = engine
    app.state.sign_in_throttle = SignInThrottle()
    app.state.search_log_limit = SearchLogLimit()
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie="kb_session",
        max_age=settings.session_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BYTES)
    install_error_handlers(app)
    # /static/docs first: the /static mount would otherwise answer for it with a 404.
    app.mount("/static/docs", StaticFiles(directory=SWAGGER_UI_FILES), name="docs_static")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(api.router)
    app.include_router(api_write.router)
    app.include_router(api_experts.router)
    app.include_router(api_routing.router)
    app.include_router(api_repertoire.router)
    app.include_router(pages.router)
    app.include_router(form_pages.router)
    app.include_router(account_pages.router)
    app.include_router(routing_pages.router)
    app.include_router(console_pages.router)
    app.include_router(repertoire_pages.router)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="kb API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

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
