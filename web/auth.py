"""Who is asking: the signed-in person (session cookie) or a script (bearer token).

Pages sign in with a signed, HttpOnly, SameSite=Lax session cookie that carries the
person's session generation: raising it (sign-out, a new password, "sign out
everywhere") ends every session signed in before, so a copied cookie stops working
too. Every form POST carries a CSRF token tied to the session; JSON writes made with
the cookie send the same token in the X-CSRF-Token header. Scripts use
`Authorization: Bearer <token>` and need no CSRF token, since a browser never adds that
header by itself.
"""

import base64
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kb.accounts import person_for_token, sign_out_everywhere
from kb.models import Person
from kb.settings import Settings
from kb.visibility import Visibility, visibility_for
from web.deps import SessionDep

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SignInRequired(Exception):
    """Answered with a redirect to the sign-in page (pages) or a 401 (API)."""


def csrf_token(request: Request) -> str:
    """The session's CSRF secret under a fresh random mask, different in every page: the
    pages are gzipped, and a secret repeated byte for byte next to text an attacker can
    put in the page (a search) could be read off the compressed sizes (BREACH)."""
    secret = request.session.get("csrf")
    if not secret:
        secret = secrets.token_urlsafe(32)
        request.session["csrf"] = secret
    return _masked(str(secret))


def _masked(secret: str) -> str:
    plain = secret.encode("ascii")
    mask = secrets.token_bytes(len(plain))
    return _b64(mask + bytes(a ^ b for a, b in zip(plain, mask, strict=True)))


def _unmasked(token: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    half = len(raw) // 2
    if half == 0 or len(raw) != 2 * half:
        return None
    return bytes(a ^ b for a, b in zip(raw[half:], raw[:half], strict=True))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def visitor_key(request: Request) -> str:
    """A random key per browser session: links a search to what was opened or asked next."""
    key = request.session.get("visitor")
    if not key:
        key = secrets.token_hex(8)
        request.session["visitor"] = key
    return str(key)


def check_csrf(request: Request, presented: str | None) -> None:
    expected = request.session.get("csrf")
    # A masked token (every page since masking), or the bare secret (a page from before).
    candidates = (
        [presented.encode(), _unmasked(presented)] if presented and presented.isascii() else []
    )
    if not expected or not any(
        candidate is not None and hmac.compare_digest(str(expected).encode(), candidate)
        for candidate in candidates
    ):
        raise HTTPException(
            403,
            "this form has expired or did not come from this site: reload the page and try again",
        )


def sign_in(request: Request, person: Person) -> None:
    request.session.clear()
    request.session["person_id"] = person.id
    # Valid until the person's generation is raised (sign-out, new password, everywhere).
    request.session["generation"] = person.session_generation
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request, session: Session) -> None:
    """End this session and every other session of the same person: a cookie saved
    before signing out (or copied elsewhere) is no longer accepted either."""
    person = _person_from_cookie(request, session)
    if person is not None:
        sign_out_everywhere(session, person)
    request.session.clear()


async def current_person(request: Request, session: SessionDep) -> Person | None:
    request.state.via_token = False
    request.state.viewer = None
    # Most reads are anonymous: they need no database, nor a hop to a worker thread.
    if request.headers.get("authorization") or "person_id" in request.session:
        request.state.viewer = await run_in_threadpool(_signed_in_person, request, session)
    viewer: Person | None = request.state.viewer
    return viewer


def _signed_in_person(request: Request, session: Session) -> Person | None:
    return _person_from_token(request, session) or _person_from_cookie(request, session)


def _person_from_token(request: Request, session: Session) -> Person | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    person = person_for_token(session, token.strip())
    if person is None:
        raise HTTPException(401, "this API token is not valid or has been revoked")
    request.state.via_token = True
    return person


def _person_from_cookie(request: Request, session: Session) -> Person | None:
    person_id = request.session.get("person_id")
    if person_id is None:
        return None
    person = session.get(Person, person_id)
    generation = request.session.get("generation")
    if person is None or generation is None or generation != person.session_generation:
        request.session.clear()  # signed out since, from here or elsewhere
        return None
    return person


ViewerDep = Annotated[Person | None, Depends(current_person)]


def current_visibility(session: SessionDep, viewer: ViewerDep) -> Visibility:
    """Which private communities the viewer may not see (kb.visibility)."""
    return visibility_for(session, viewer)


VisibilityDep = Annotated[Visibility, Depends(current_visibility)]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def require_reader(request: Request, viewer: ViewerDep) -> Person | None:
    """Reading is open to everyone when KB_PUBLIC_READ is on; otherwise sign in first."""
    if viewer is None and not settings_of(request).public_read:
        raise SignInRequired()
    return viewer


async def require_person(viewer: ViewerDep) -> Person:
    if viewer is None:
        raise SignInRequired()
    return viewer


async def require_api_writer(request: Request, viewer: ViewerDep) -> Person:
    if viewer is None:
        raise SignInRequired()
    if not request.state.via_token and request.method not in SAFE_METHODS:
        check_csrf(request, request.headers.get(CSRF_HEADER))
    return viewer


async def require_form_writer(request: Request, viewer: ViewerDep) -> Person:
    if viewer is None:
        raise SignInRequired()
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    check_csrf(request, presented if isinstance(presented, str) else None)
    return viewer


ReaderDep = Annotated[Person | None, Depends(require_reader)]
SignedInDep = Annotated[Person, Depends(require_person)]
ApiWriterDep = Annotated[Person, Depends(require_api_writer)]
FormWriterDep = Annotated[Person, Depends(require_form_writer)]
