"""Throttling password guesses, counted in the database so that every worker process
and machine sees the same count."""

from datetime import timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from kb.accounts import authenticate, handle_key
from kb.models import Person, SignInFailure, utcnow
from kb.writes import write


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

    def attempt(self, session: Session, address: str, handle: str, password: str) -> Person | None:
        """One sign-in attempt, one write: the person if the password is theirs (their
        failures are then forgotten, and an outdated hash is renewed), or None (counted)."""
        with write(session):
            person = authenticate(session, handle, password)
            if person is None:
                self.failed(session, address, handle)
            else:
                self.succeeded(session, address, handle)
        return person

    def failed(self, session: Session, address: str, handle: str) -> None:
        now = utcnow()
        handle_column, address_column = self._key(address, handle)
        with write(session):
            session.execute(
                delete(SignInFailure).where(SignInFailure.failed_at < now - self.WINDOW)
            )
            session.add(SignInFailure(handle=handle_column, address=address_column, failed_at=now))

    def succeeded(self, session: Session, address: str, handle: str) -> None:
        with write(session):
            session.execute(delete(SignInFailure).where(*self._who(address, handle)))

    @classmethod
    def _who(cls, address: str, handle: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        handle_column, address_column = cls._key(address, handle)
        return SignInFailure.handle == handle_column, SignInFailure.address == address_column

    @staticmethod
    def _key(address: str, handle: str) -> tuple[str, str]:
        """As stored: the name's throttle key and the address, cut to the columns' lengths."""
        return handle_key(handle)[:200], address[:100]
