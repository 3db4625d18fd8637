"""Changing one's own password from the web (the account page and the API): the current
password is checked like a sign-in, so wrong ones count in the sign-in throttle, and the
session that changed it stays signed in while every other one ends."""

from fastapi import Request
from sqlalchemy.orm import Session

from kb.accounts import WrongPassword, change_password
from kb.models import Person
from kb.sign_in_throttle import SignInThrottle


class TooManyAttempts(Exception):
    """Too many wrong passwords for this name from this address: wait `seconds`."""

    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many wrong passwords: try again in {seconds} seconds")
        self.seconds = seconds


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def change_own_password(
    request: Request, session: Session, person: Person, current: str, new: str
) -> None:
    """Raises TooManyAttempts, kb.accounts.WrongPassword or another AccountError."""
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    address = client_address(request)
    wait = throttle.retry_after(session, address, person.handle)
    if wait:
        raise TooManyAttempts(wait)
    try:
        change_password(session, person, current, new)
    except WrongPassword:
        throttle.failed(session, address, person.handle)
        raise
    throttle.succeeded(session, address, person.handle)
    if not request.state.via_token:
        # This browser signs in again at the new generation; every other session ended.
        request.session["generation"] = person.session_generation
