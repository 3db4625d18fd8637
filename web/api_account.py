"""The JSON API for one's own account: settings, password, API tokens and the e-mail
address. For the signed-in person (session cookie plus X-CSRF-Token on writes) or an API
token. Availability is `PATCH /api/me` (web/api_routing.py), the notification e-mail
setting `PUT /api/me/notification-email` (web/api_notifications.py)."""

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from kb.accounts import (
    MAX_EMAIL_CHARS,
    MAX_PASSWORD_CHARS,
    MAX_TOKEN_LABEL_CHARS,
    AccountError,
    NoSuchToken,
    WrongPassword,
    create_token,
    revoke_own_token,
    tokens_of,
)
from kb.models import ApiToken, EmailSetting, Person
from kb.own_account import set_own_email
from web.auth import ApiWriterDep, SignedInDep
from web.deps import RowId, SessionDep
from web.password_change import TooManyAttempts, change_own_password
from web.schemas import ErrorResponse
from web.timestamps import UtcDateTime

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 422)
}
router = APIRouter(prefix="/api/me", responses=ERRORS, tags=["accounts"])


class AccountSettingsOut(BaseModel):
    id: str = Field(description="Your user name.")
    email: str | None = Field(description="Where notifications and routed problems go.")
    notification_email: EmailSetting
    away: bool = Field(description="Away: routing does not suggest you, nobody can ask you.")
    routing_opt_out: bool = Field(description="Do not route problems to me, whether away or not.")

    @classmethod
    def of(cls, person: Person) -> "AccountSettingsOut":
        return cls(
            id=person.handle,
            email=person.email,
            notification_email=EmailSetting(person.notification_email),
            away=person.away,
            routing_opt_out=person.routing_opt_out,
        )


class EmailAddressIn(BaseModel):
    email: str | None = Field(
        max_length=MAX_EMAIL_CHARS, description="The address; null or empty: none."
    )


class PasswordIn(BaseModel):
    current_password: str = Field(max_length=MAX_PASSWORD_CHARS)
    new_password: str = Field(max_length=MAX_PASSWORD_CHARS)


class TokenIn(BaseModel):
    label: str = Field(
        min_length=1, max_length=MAX_TOKEN_LABEL_CHARS, description="What the token is for."
    )


class TokenOut(BaseModel):
    id: int
    label: str
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    active: bool

    @classmethod
    def of(cls, token: ApiToken) -> "TokenOut":
        return cls(
            id=token.id,
            label=token.label,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
            active=token.revoked_at is None,
        )


class NewTokenOut(TokenOut):
    token: str = Field(description="The token itself, shown this once: kb keeps only a hash.")


def _refused(refusal: AccountError) -> HTTPException:
    return HTTPException(422, str(refusal))


@router.get("/settings", response_model=AccountSettingsOut)
def api_settings(person: SignedInDep) -> AccountSettingsOut:
    """Your e-mail address, when notifications are e-mailed, and your availability."""
    return AccountSettingsOut.of(person)


@router.put("/email", response_model=AccountSettingsOut)
def api_email_address(
    request: Request, payload: EmailAddressIn, person: ApiWriterDep, session: SessionDep
) -> AccountSettingsOut:
    """Set (or, with null or "", remove) the address notifications are e-mailed to. A 403
    when single sign-on decides addresses (the person signs on, or accounts are joined by
    e-mail); a 422 if it is not an address or another account has it."""
    try:
        set_own_email(session, person, request.app.state.settings, payload.email)
    except AccountError as refusal:
        raise _refused(refusal) from None
    return AccountSettingsOut.of(person)


@router.post(
    "/password",
    status_code=204,
    responses={400: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
)
def api_change_password(
    request: Request, payload: PasswordIn, person: ApiWriterDep, session: SessionDep
) -> Response:
    """Change your password, giving the current one (a wrong one is a 400 and counts in
    the sign-in throttle: 429 with Retry-After after too many). Every signed-in session
    ends except the one that asked; API tokens keep working."""
    try:
        change_own_password(
            request, session, person, payload.current_password, payload.new_password
        )
    except TooManyAttempts as refusal:
        raise HTTPException(
            429, str(refusal), headers={"Retry-After": str(refusal.seconds)}
        ) from None
    except WrongPassword as refusal:
        raise HTTPException(400, str(refusal)) from None
    except AccountError as refusal:
        raise _refused(refusal) from None
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut])
def api_tokens(person: SignedInDep, session: SessionDep) -> list[TokenOut]:
    """Your API tokens, active ones first, newest first (never the tokens themselves)."""
    return [TokenOut.of(token) for token in tokens_of(session, person)]


@router.post("/tokens", response_model=NewTokenOut, status_code=201)
def api_create_token(payload: TokenIn, person: ApiWriterDep, session: SessionDep) -> NewTokenOut:
    """A new API token acting as you. The answer holds it once; store it now."""
    try:
        if not payload.label.strip():
            raise AccountError("give the token a label: what it is for")
        token, plain = create_token(session, person, payload.label)
    except AccountError as refusal:
        raise _refused(refusal) from None
    return NewTokenOut(**TokenOut.of(token).model_dump(), token=plain)


@router.post(
    "/tokens/{token_id}/revoke", response_model=TokenOut, responses={404: {"model": ErrorResponse}}
)
def api_revoke_token(token_id: RowId, person: ApiWriterDep, session: SessionDep) -> TokenOut:
    """Revoke one of your tokens: it stops working at once (revoking twice: no change).
    Someone else's token is a 404, as is one that does not exist."""
    try:
        token = revoke_own_token(session, person, token_id)
    except NoSuchToken as refusal:
        raise HTTPException(404, str(refusal)) from None
    return TokenOut.of(token)
