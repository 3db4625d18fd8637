"""Signing in and out, the account page, and signing out everywhere (page and API)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.accounts import sign_out_everywhere
from web.auth import (
    ApiWriterDep,
    FormWriterDep,
    SignedInDep,
    ViewerDep,
    check_csrf,
    sign_in,
    sign_out,
)
from web.deps import FormText, SessionDep
from web.templating import templates

# The pages are left out of the API's schema one by one; the API route is in it.
router = APIRouter()


def safe_next(target: str) -> str:
    """Only a path on this site (its query kept): never `//elsewhere`, `https://elsewhere`,
    nor `/<tab>/elsewhere`, which a browser reads as `//elsewhere` once it drops the tab."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in target):
        return "/"
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/signin", response_class=HTMLResponse, name="signin_page", include_in_schema=False)
def signin_page(request: Request, viewer: ViewerDep, next: str = "/") -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return templates.TemplateResponse(
        request, "signin.html", {"next": safe_next(next), "handle": "", "error": None}
    )


@router.post("/signin", response_class=HTMLResponse, include_in_schema=False)
def signin(
    request: Request,
    session: SessionDep,
    csrf_token: FormText = "",
    handle: FormText = "",
    password: FormText = "",
    next: FormText = "/",
) -> Response:
    if not request.app.state.settings.password_sign_in:
        return _signin_again(
            request, handle, next, "Sign-in with a password is turned off here.", 403
        )
    check_csrf(request, csrf_token)
    throttle = request.app.state.sign_in_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(session, address, handle)
    if wait:
        response = _signin_again(
            request, handle, next, f"Too many failed attempts. Try again in {wait} seconds.", 429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    person = throttle.attempt(session, address, handle, password)
    if person is None:
        return _signin_again(request, handle, next, "Wrong user name or password.", 400)
    sign_in(request, person)
    return RedirectResponse(safe_next(next), status_code=303)


def _signin_again(request: Request, handle: str, next: str, error: str, status: int) -> Response:
    context = {"next": safe_next(next), "handle": handle, "error": error}
    return templates.TemplateResponse(request, "signin.html", context, status_code=status)


@router.post("/signout", include_in_schema=False)
def signout(request: Request, session: SessionDep, csrf_token: FormText = "") -> Response:
    """Ends this person's sessions everywhere: a saved copy of the cookie stops working."""
    check_csrf(request, csrf_token)
    sign_out(request, session)
    return RedirectResponse("/", status_code=303)


@router.get("/account", response_class=HTMLResponse, name="account_page", include_in_schema=False)
def account_page(request: Request, person: SignedInDep) -> Response:
    return templates.TemplateResponse(request, "account.html", {"person": person})


@router.post("/account/sign-out-everywhere", include_in_schema=False)
def sign_out_everywhere_form(
    request: Request, _person: FormWriterDep, session: SessionDep
) -> Response:
    sign_out(request, session)  # signing out already ends the sessions on every device
    return RedirectResponse("/", status_code=303)


@router.post("/api/me/sign-out-everywhere", status_code=204, tags=["accounts"])
def api_sign_out_everywhere(
    request: Request, person: ApiWriterDep, session: SessionDep
) -> Response:
    """End every signed-in session of the caller, on every device (this one too, when
    called with the session cookie). API tokens stay valid: `kb token revoke` ends those."""
    sign_out_everywhere(session, person)
    if not request.state.via_token:
        request.session.clear()
    return Response(status_code=204)
