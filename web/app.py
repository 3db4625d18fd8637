"""The FastAPI app factory. Everything the app needs hangs off app.state."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, select
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indexer.embedder import embedder_for
from kb.accounts import Role, has_role
from kb.attachments import sweep_after_removals
from kb.database import Database
from kb.models import Entry
from kb.notification_email import email_notifications
from kb.notifications import notify_followers
from kb.notify import send_routing_emails
from kb.settings import Settings
from kb.sign_in_throttle import SignInThrottle
from kb.sso_settings import sso_settings
from kb.webhook_delivery import Deliverer
from kb.webhook_events import queue_webhook_deliveries
from search.engine import SearchEngine
from search.subscribers import keep_search_current
from web import (
    account_pages,
    answered_pages,
    api,
    api_account,
    api_attachments,
    api_experts,
    api_notifications,
    api_repertoire,
    api_routing,
    api_write,
    attachment_pages,
    collection_pages,
    community_pages,
    console_pages,
    follow_pages,
    form_pages,
    pages,
    repertoire_pages,
    routing_pages,
    sso,
)
from web.auth import ViewerDep
from web.deps import EngineDep
from web.errors import install_error_handlers
from web.limits import BodySizeLimit
from web.schemas import Health
from web.search_logging import SearchLogLimit
from web.security_headers import SecurityHeaders
from web.static_files import STATIC_DIR, SWAGGER_UI_FILES, VersionedStaticFiles

# The largest entry is 50,000 characters; 2 MB leaves room for JSON escaping and UTF-8.
MAX_REQUEST_BYTES = 2_000_000
# A form's largest text (50,000 characters) percent-encodes to at most 600 KB. Below the
# 1 MiB at which Starlette's form parser refuses a field with a 400 of its own.
MAX_FORM_BYTES = 1_000_000
# Room for the multipart framing and the CSRF field around an attachment's bytes.
UPLOAD_OVERHEAD_BYTES = 64_000
# Text responses smaller than this are sent as they are: gzip would save little.
GZIP_MIN_BYTES = 1000
FAVICON = STATIC_DIR / "favicon.svg"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    database = Database.from_settings(settings)
    database.create_schema()
    with database.session() as session:  # refuses half a configuration, with the reason
        sso_config = sso_settings(settings, session)
    # Requests run side by side, each embedding one query: one core per query each.
    embedder = embedder_for(settings, threads=1)
    engine = SearchEngine.open(settings, database, embedder)
    # The side effects of every write, subscribed once (kb.announcements).
    keep_search_current(database.subscribers, engine)
    send_routing_emails(database.subscribers, settings, database)
    notify_followers(database.subscribers, settings, database)
    email_notifications(database.subscribers, settings, database)
    sweep_after_removals(database.subscribers, settings.attachments_dir, database)
    # Webhooks: the subscriber queues deliveries and wakes this server's deliverer thread.
    deliverer = Deliverer(database, settings)
    queue_webhook_deliveries(database.subscribers, settings, database, on_queued=deliverer.wake)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What startup built (model, index, mappings: about 170,000 objects) lives as long
        # as the app. Left out of the cycle collector's full passes, which took 60 to 70 ms
        # every few hundred requests while every request in the process waited.
        gc.collect()
        gc.freeze()
        deliverer.start()
        yield
        deliverer.stop()
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
    app.state.webhook_deliverer = deliverer
    app.state.sign_in_throttle = SignInThrottle()
    app.state.search_log_limit = SearchLogLimit()
    app.state.sso = sso.SsoClient(sso_config) if sso_config else None
    app.state.sso_button_label = sso_config.button_label if sso_config else None
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie="kb_session",
        max_age=settings.session_hours * 3600,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(
        BodySizeLimit,
        max_bytes=MAX_REQUEST_BYTES,
        max_form_bytes=MAX_FORM_BYTES,
        upload_bytes=settings.attachment_max_bytes + UPLOAD_OVERHEAD_BYTES,
    )
    # Pages, JSON and static text; the CSRF token is masked afresh in every page
    # (web/auth.py), so compression cannot reveal it (BREACH).
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)  # added last, so outermost: on the 413 as well
    install_error_handlers(app)
    # /static/docs first: the /static mount would otherwise answer for it with a 404.
    app.mount("/static/docs", VersionedStaticFiles(directory=SWAGGER_UI_FILES), name="docs_static")
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(api_write.router)
    app.include_router(api_attachments.router)
    app.include_router(attachment_pages.router)
    app.include_router(api_experts.router)
    app.include_router(api_routing.router)
    app.include_router(api_repertoire.router)
    app.include_router(api_notifications.router)
    app.include_router(api_account.router)
    app.include_router(pages.router)
    app.include_router(form_pages.router)
    app.include_router(answered_pages.router)
    app.include_router(account_pages.router)
    app.include_router(sso.router)
    app.include_router(routing_pages.router)
    app.include_router(console_pages.router)
    app.include_router(repertoire_pages.router)
    app.include_router(collection_pages.router)
    app.include_router(follow_pages.router)
    app.include_router(community_pages.router)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> Response:
        # Our own page rather than fastapi's get_swagger_ui_html, whose inline <script>
        # the Content-Security-Policy refuses: it starts Swagger UI from a file instead.
        from web.templating import templates

        return templates.TemplateResponse(request, "docs.html", {"openapi_url": app.openapi_url})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for it whatever the page links; an SVG under this name works in all
        # current ones. Its URL has no version, hence a day rather than a year.
        return FileResponse(
            FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
        )

    @app.get(
        "/healthz", response_model=Health, response_model_exclude_none=True, tags=["operations"]
    )
    def healthz(engine: EngineDep, viewer: ViewerDep) -> Health:
        """`{"status": "ok"}` for anyone (load balancers); the entry count, index size and
        model only for an admin or knowledge manager (signed in, or by their API token)."""
        if viewer is None or not has_role(viewer, Role.KNOWLEDGE_MANAGER):
            return Health(status="ok")
        with engine.database.session() as session:
            entries = session.scalar(select(func.count(Entry.id))) or 0
        index = engine.describe_index()
        return Health(
            status="ok", entries=entries, index_vectors=index.vectors, index_model=index.model_id
        )

    return app


class HeadAsGet:
    """HEAD is answered as GET without the body: the routes are declared for GET only,
    which fastapi would otherwise answer with a 405 for HEAD (HEAD / included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            elif message["type"] == "http.response.pathsend":  # a file, sent by the server
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
