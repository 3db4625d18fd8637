"""The Jinja2 environment of the pages: Markdown and snippet helpers, who is signed in,
and the CSRF token every form carries."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from kb.accounts import Role, has_role
from kb.gaps import unread_gaps
from kb.routing import unread_count
from web.auth import CSRF_FIELD, csrf_token
from web.rendering import marked_snippet, render_markdown


def page_context(request: Request) -> dict[str, Any]:
    viewer = getattr(request.state, "viewer", None)
    return {
        "viewer": viewer,
        "inbox_unread": lambda: _inbox_unread(request, viewer),
        "csrf_field": CSRF_FIELD,
        "csrf_token": lambda: csrf_token(request),
        "public_read": request.app.state.settings.public_read,
        "demo_password": getattr(request.app.state, "demo_password", ""),
    }


def _inbox_unread(request: Request, viewer: Any) -> int:
    if viewer is None:
        return 0
    with request.app.state.database.session() as session:
        return unread_count(session, viewer) + unread_gaps(session, viewer)


templates = Jinja2Templates(
    directory=Path(__file__).parent / "templates", context_processors=[page_context]
)
templates.env.globals.update(
    markdown=render_markdown, snippet=marked_snippet, has_role=has_role, Role=Role
)
