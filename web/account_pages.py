"""Signing in and out, the account page, and signing out everywhere (page and API).

The account page has one form per setting (password, API tokens, notification e-mail,
what you follow, availability); after a save it says what changed. Their JSON twins
are in web/api_account.py."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from kb import follows
from kb.accounts import (
    MAX_PASSWORD_CHARS,
    MAX_TOKEN_LABEL_CHARS,
    MIN_PASSWORD_CHARS,
    AccountError,
    NoSuchToken,
    WrongPassword,
    create_token,
    revoke_own_token,
    sign_out_everywhere,
    tokens_of,
)
from kb.errors import InvalidContribution, NotAllowed
from kb.models import EmailSetting, Person
from kb.own_account import email_locked_because, set_own_notification_email
from kb.routing import set_availability
from web.auth import (
    ApiWriterDep,
    FormWriterDep,
    SignedInDep,
    ViewerDep,
    check_csrf,
    sign_in,
    sign_out,
)
from web.deps import FormText, RowId, SessionDep
from web.flash import flash
from web.password_change import TooManyAttempts, change_own_password
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


# -- the account page -----------------------------------------------------------------

EMAIL_WHEN = {
    EmailSetting.IMMEDIATELY: "each one, immediately",
    EmailSetting.DAILY: "a daily digest",
    EmailSetting.WEEKLY: "a weekly digest",
    EmailSetting.OFF: "nothing (inbox only)",
}


@router.get("/account", response_class=HTMLResponse, name="account_page", include_in_schema=False)
def account_page(request: Request, person: SignedInDep, session: SessionDep) -> Response:
    return account_again(request, session, person)


def account_again(
    request: Request,
    session: Session,
    person: Person,
    *,
    section: str = "",
    error: str = "",
    status: int = 200,
    new_token: str = "",
    saved: str = "",
) -> Response:
    """The page, with what was just saved (`saved`: shown in the page's status line, as
    after a redirect), or the reason the form of `section` was refused."""
    if saved:
        flash(request, saved)
    context: dict[str, Any] = {
        "person": person,
        "tokens": tokens_of(session, person),
        "followed": follows.followed_by(session, person),
        "email_when": EMAIL_WHEN,
        "email_locked": email_locked_because(session, person, request.app.state.settings),
        "error": {"section": section, "text": _sentence(error)} if error else None,
        "new_token": new_token,
        "min_password_chars": MIN_PASSWORD_CHARS,
        "max_password_chars": MAX_PASSWORD_CHARS,
        "max_label_chars": MAX_TOKEN_LABEL_CHARS,
    }
    return templates.TemplateResponse(request, "account.html", context, status_code=status)


def _saved(request: Request, section: str, text: str) -> Response:
    """Back to the section; the page's status line says what was saved (web.flash)."""
    flash(request, text)
    return RedirectResponse(f"/account#{section}", status_code=303)


def _sentence(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        return reason
    return reason[0].upper() + reason[1:] + ("" if reason.endswith((".", "?", "!")) else ".")


@router.post("/account/password", include_in_schema=False)
def post_password(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    current_password: FormText = "",
    new_password: FormText = "",
    repeat_password: FormText = "",
) -> Response:
    def again(reason: str, status: int) -> Response:
        return account_again(
            request, session, person, section="password", error=reason, status=status
        )

    if new_password != repeat_password:
        return again("the new password and its repetition differ: type the same one twice", 422)
    try:
        change_own_password(request, session, person, current_password, new_password)
    except TooManyAttempts as refusal:
        response = again(str(refusal), 429)
        response.headers["Retry-After"] = str(refusal.seconds)
        return response
    except WrongPassword as refusal:
        return again(str(refusal), 400)
    except AccountError as refusal:
        return again(str(refusal), 422)
    return _saved(
        request,
        "password",
        "Your password is changed. Every other browser and device you were signed in on "
        "is signed out; this one stays signed in. API tokens keep working.",
    )


@router.post("/account/tokens", include_in_schema=False)
def post_token(
    request: Request, person: FormWriterDep, session: SessionDep, label: FormText = ""
) -> Response:
    """The page itself answers, not a redirect: the plain token is shown this once and
    kept nowhere, not even in the session cookie."""
    try:
        if not label.strip():
            raise AccountError("give the token a label: what it is for, to know which to revoke")
        token, plain = create_token(session, person, label)
    except AccountError as refusal:
        return account_again(
            request, session, person, section="tokens", error=str(refusal), status=422
        )
    return account_again(
        request,
        session,
        person,
        section="tokens",
        new_token=plain,
        saved=f"Token {token.id} “{token.label}” is created.",
    )


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def post_revoke_token(
    request: Request, token_id: RowId, person: FormWriterDep, session: SessionDep
) -> Response:
    try:
        token = revoke_own_token(session, person, token_id)
    except NoSuchToken as refusal:
        raise HTTPException(404, str(refusal)) from None
    return _saved(
        request,
        "tokens",
        f"Token {token.id} “{token.label}” is revoked: a script that sends it now gets 401.",
    )


@router.post("/account/notifications", include_in_schema=False)
def post_notifications(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    setting: FormText = "",
    email: FormText = "",
    has_email: FormText = "",  # the address is not on the form while it is locked
) -> Response:
    settings = request.app.state.settings
    address = email if has_email else None
    try:
        set_own_notification_email(session, person, settings, address, setting)
    except NotAllowed as refusal:
        return account_again(
            request, session, person, section="notifications", error=str(refusal), status=403
        )
    except (AccountError, InvalidContribution) as refusal:
        return account_again(
            request, session, person, section="notifications", error=str(refusal), status=422
        )
    when = EMAIL_WHEN[EmailSetting(person.notification_email)]
    if person.notification_email == EmailSetting.OFF:
        text = "Saved: notifications stay in your inbox, none are e-mailed."
    elif person.email:
        text = f"Saved: you are e-mailed {when}, at {person.email}."
    else:
        text = f"Saved ({when}), but with no e-mail address notifications stay in your inbox."
    return _saved(request, "notifications", text)


@router.post("/account/unfollow", include_in_schema=False)
def post_unfollow(
    request: Request, person: FormWriterDep, session: SessionDep, target: FormText, value: FormText
) -> Response:
    named = next(
        (f for f in follows.followed_by(session, person) if (f.target, f.value) == (target, value)),
        None,
    )
    follows.unfollow(session, person, target, value)
    shown = f"“{named.title}”" if named else value
    return _saved(request, "follows", f"You no longer follow the {target} {shown}.")


@router.post("/account/availability", include_in_schema=False)
def post_availability(
    request: Request,
    person: FormWriterDep,
    session: SessionDep,
    away: FormText = "",
    routing_opt_out: FormText = "",
) -> Response:
    set_availability(session, person, away=away == "on", routing_opt_out=routing_opt_out == "on")
    if person.away or person.routing_opt_out:
        text = "Saved: kb suggests other people for open problems, and nobody can ask you by name."
        if person.away and not person.routing_opt_out:
            text += " Untick “I am away” when you are back."
    else:
        text = "Saved: you are available; kb may suggest you for problems like those you solved."
    return _saved(request, "availability", text)


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
