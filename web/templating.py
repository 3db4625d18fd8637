"""The Jinja2 environment of the pages: Markdown and snippet helpers, who is signed in,
what they follow, and the CSRF token every form carries."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from kb.accounts import Role, has_role
from kb.follows import follows_named
from kb.inbox import unread_in_inbox
from web.auth import CSRF_FIELD, csrf_token
from web.flash import pop_flash
from web.rendering import marked_snippet, render_markdown
from web.static_files import versioned_url_for
from web.status_words import status_word


def page_context(request: Request) -> dict[str, Any]:
    viewer = getattr(request.state, "viewer", None)
    return {
        "viewer": viewer,
        "inbox_unread": lambda: _inbox_unread(request, viewer),
        "following": lambda target, value: _following(request, viewer, target, value),
        "csrf_field": CSRF_FIELD,
        "csrf_token": lambda: csrf_token(request),
        "pop_flash": lambda: pop_flash(request),
        # This page's path and query: where signing in comes back to.
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "public_read": request.app.state.settings.public_read,
        "demo_password": getattr(request.app.state, "demo_password", ""),
        # The sign-in page's choices (web/sso.py).
        "sso_button_label": getattr(request.app.state, "sso_button_label", None),
        "password_sign_in": request.app.state.settings.password_sign_in,
    }


def _inbox_unread(request: Request, viewer: Any) -> int:
    if viewer is None:
        return 0
    with request.app.state.database.session() as session:
        return unread_in_inbox(session, viewer)


def _following(request: Request, viewer: Any, target: str, value: str) -> bool:
    """For the Follow / Unfollow buttons (web/follow_pages.py)."""
    if viewer is None:
        return False
    with request.app.state.database.session() as session:
        return follows_named(session, viewer, target, value)


templates = Jinja2Templates(
    directory=Path(__file__).parent / "templates", context_processors=[page_context]
)
templates.env.globals.update(
    markdown=render_markdown,
    snippet=marked_snippet,
    has_role=has_role,
    Role=Role,
    status_word=status_word,
    url_for=versioned_url_for,  # static files' URLs carry their version (web/static_files.py)
)
