"""Signing in and out."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.accounts import authenticate
from web.auth import ViewerDep, check_csrf, sign_in, sign_out
from web.deps import FormText, SessionDep
from web.templating import templates

router = APIRouter(include_in_schema=False)


def safe_next(target: str) -> str:
    """Only a path on this site: never `//elsewhere` or `https://elsewhere`."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/signin", response_class=HTMLResponse, name="signin_page")
def signin_page(request: Request, viewer: ViewerDep, next: str = "/") -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return templates.TemplateResponse(
        request, "signin.html", {"next": safe_next(next), "handle": "", "error": None}
    )


@router.post("/signin", response_class=HTMLResponse)
def signin(
    request: Request,
    session: SessionDep,
    csrf_token: FormText = "",
    handle: FormText = "",
    password: FormText = "",
    next: FormText = "/",
) -> Response:
    check_csrf(request, csrf_token)
    throttle = request.app.state.sign_in_throttle
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(session, address, handle)
    if wait:
        return _signin_again(
            request, handle, next, f"Too many failed attempts. Try again in {wait} seconds.", 429
        )
    person = authenticate(session, handle, password)
    if person is None:
        throttle.failed(session, address, handle)
        return _signin_again(request, handle, next, "Wrong user name or password.", 400)
    throttle.succeeded(session, address, handle)  # commits a rehashed password too
    sign_in(request, person)
    return RedirectResponse(safe_next(next), status_code=303)


def _signin_again(request: Request, handle: str, next: str, error: str, status: int) -> Response:
    context = {"next": safe_next(next), "handle": handle, "error": error}
    return templates.TemplateResponse(request, "signin.html", context, status_code=status)


@router.post("/signout")
def signout(request: Request, csrf_token: FormText = "") -> Response:
    check_csrf(request, csrf_token)
    sign_out(request)
    return RedirectResponse("/", status_code=303)
