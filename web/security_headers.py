"""Security headers on every response (pages, API, static files, errors, the 413).

The pages carry no inline script, no inline event handler and no style attribute, so
the Content-Security-Policy needs no 'unsafe-inline': an injected <script>, onerror= or
style= that got past the Markdown renderer would not run. The one inline <style> is the
booklet's (web/templates/booklet.html): a booklet is a standalone file people save,
print and mail, so its styles travel inside it. It is allowed by its SHA-256, which
allows that exact style sheet and nothing else.

- frame-ancestors 'none' and X-Frame-Options: DENY (for browsers without CSP 2): no
  other site can frame a signed-in page and trick a click on Accept or Sign out.
- img-src data: for the icons Swagger UI's style sheet inlines (/docs); no other source
  type is allowed beyond 'self'.
- Referrer-Policy: same-origin. Pages link out to vendors' sites from entries, and our
  URLs carry what people searched for (/search?q=...) and which case they opened; the
  internal host name is nobody's business either. strict-origin-when-cross-origin would
  still send the origin; kb itself reads no Referer, so same-origin costs nothing.
"""

import base64
import hashlib
import re
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BOOKLET_TEMPLATE = Path(__file__).parent / "templates" / "booklet.html"


def inline_style_hashes() -> list[str]:
    """CSP hash sources for the booklet's <style> element, as the template holds it."""
    template = BOOKLET_TEMPLATE.read_text(encoding="utf-8")
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode() + "'"
        for css in re.findall(r"<style>(.*?)</style>", template, flags=re.DOTALL)
    ]


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src " + " ".join(["'self'", *inline_style_hashes()]),
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
