"""Who is asking: the signed-in person (session cookie) or a script (bearer token).

Pages sign in with a signed, HttpOnly, SameSite=Lax session cookie that carries the
person's session generation: raising it (sign-out, a new password, "sign out
everywhere") ends every session signed in before, so a copied cookie stops working
too. Every form POST carries a CSRF token tied to the session; JSON writes made with
the cookie send the same token in the X-CSRF-Token header. Scripts use
`Authorization: Bearer <token>` and need no CSRF token, since a browser never adds that
header by itself.
"""

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from kb.accounts import end_sessions, handle_key, person_for_token
from kb.models import Person, SignInFailure, utcnow
from kb.settings import Settings
from web.deps import SessionDep

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SignInRequired(Exception):
    """Answered with a redirect to the sign-in page (pages) or a 401 (API)."""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


def visitor_key(request: Request) -> str:
    """A random key per browser session: links a search to what was opened or asked next."""
    key = request.session.get("visitor")
    if not key:
        key = secrets.token_hex(8)
        request.session["visitor"] = key
    return str(key)


def check_csrf(request: Request, presented: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not presented or not hmac.compare_digest(str(expected), presented):
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
        end_sessions(person)
        session.commit()
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
    session.commit()  # keeps last_used_at
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


class SignInThrottle:
    """At most MAX_FAILURES failed sign-ins per name and address in WINDOW, and at most
    MAX_ACCOUNT_FAILURES per name from all addresses together (so that rotating
    addresses does not buy more guesses), counted in the database: every worker process
    and machine sees the same count. Names count by kb.accounts.handle_key, so every
    spelling that signs in as one person (padded, full-width, other case) counts as one."""

    MAX_FAILURES = 5
    MAX_ACCOUNT_FAILURES = 20
    WINDOW = timedelta(seconds=300)

    def retry_after(self, session: Session, address: str, handle: str) -> int:
        """Seconds to wait before the next attempt; 0 when one is allowed now."""
        this_name, from_this_address = self._who(address, handle)
        from_here = self._wait(session, self.MAX_FAILURES, this_name, from_this_address)
        from_anywhere = self._wait(session, self.MAX_ACCOUNT_FAILURES, this_name)
        return max(from_here, from_anywhere)

    def _wait(self, session: Session, limit: int, *who: ColumnElement[bool]) -> int:
        now = utcnow()
        recent = session.scalars(
            select(SignInFailure.failed_at)
            .where(*who, SignInFailure.failed_at > now - self.WINDOW)
            .order_by(SignInFailure.failed_at.desc())
            .limit(limit)
        ).all()
        if len(recent) < limit:
            return 0
        return int((recent[-1] + self.WINDOW - now).total_seconds()) + 1

    def failed(self, session: Session, address: str, handle: str) -> None:
        now = utcnow()
        session.execute(delete(SignInFailure).where(SignInFailure.failed_at < now - self.WINDOW))
        handle_column, address_column = self._key(address, handle)
        session.add(SignInFailure(handle=handle_column, address=address_column, failed_at=now))
        session.commit()

    def succeeded(self, session: Session, address: str, handle: str) -> None:
        session.execute(delete(SignInFailure).where(*self._who(address, handle)))
        session.commit()

    @classmethod
    def _who(cls, address: str, handle: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        handle_column, address_column = cls._key(address, handle)
        return SignInFailure.handle == handle_column, SignInFailure.address == address_column

    @staticmethod
    def _key(address: str, handle: str) -> tuple[str, str]:
        """As stored: the name's throttle key and the address, cut to the columns' lengths."""
        return handle_key(handle)[:200], address[:100]
