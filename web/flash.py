"""Flash messages: one line of feedback after a form action, shown once on the next page.

A form handler calls `flash(request, ...)` before it redirects; the message waits in the
signed session cookie and base.html shows it (templates/_flash.html, a `role="status"`
area) on the next page it renders, which takes it out of the session. A message may
carry an Undo: a small form (action, hidden fields, label) posted with the CSRF token.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.requests import Request

SESSION_KEY = "flash"
# The session lives in a cookie: keep a message short enough never to crowd it.
MAX_TEXT_CHARS = 300


class FlashKind(StrEnum):
    SUCCESS = "success"
    INFO = "info"
    ERROR = "error"


@dataclass(frozen=True)
class Undo:
    """The form that takes the action back."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    label: str = "Undo"


@dataclass(frozen=True)
class Flash:
    kind: FlashKind
    text: str
    undo: Undo | None = None


def flash(
    request: Request, text: str, kind: FlashKind = FlashKind.SUCCESS, undo: Undo | None = None
) -> None:
    """Show `text` on the next page this browser gets (a later message replaces it)."""
    stored: dict[str, Any] = {"kind": str(kind), "text": text[:MAX_TEXT_CHARS]}
    if undo is not None:
        stored["undo"] = {"action": undo.action, "fields": undo.fields, "label": undo.label}
    request.session[SESSION_KEY] = stored


def pop_flash(request: Request) -> Flash | None:
    """The waiting message, if any; it is shown once."""
    if SESSION_KEY not in request.session:
        return None
    stored = request.session.pop(SESSION_KEY)
    try:
        undo = stored.get("undo")
        return Flash(
            FlashKind(stored["kind"]),
            str(stored["text"]),
            Undo(str(undo["action"]), dict(undo["fields"]), str(undo["label"])) if undo else None,
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None  # not a message this version wrote: drop it
