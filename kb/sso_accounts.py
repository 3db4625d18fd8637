"""People who sign in through single sign-on (OpenID Connect): finding them by the
provider's (issuer, subject), creating them at their first sign-on, and setting their
communities and roles from their groups (kb.sso_groups) at every sign-on.

web/sso.py speaks the protocol and hands over claims it has validated; this module
decides who that is. An existing kb account is never taken over on the strength of a
matching user name or an unverified e-mail: see `sign_in_with_sso`.
"""

import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb.accounts import AccountError, canonical_handle
from kb.models import Person, SsoIdentity, utcnow
from kb.sso_groups import GroupMap
from kb.writes import write

# Person.handle holds 100 characters; room is left for a "-12" that makes it unique.
_HANDLE_CHARS = 90
_NOT_IN_HANDLE = re.compile(r"[^a-z0-9._-]+")


class SsoSignInRefused(Exception):
    """A sign-on kb will not complete; the message says why and what to do, the status
    which 4xx answers it."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SsoClaims:
    """What kb uses of a validated ID token (and userinfo)."""

    issuer: str
    subject: str
    preferred_username: str | None = None
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)


def sign_in_with_sso(
    session: Session, claims: SsoClaims, group_map: GroupMap, link_verified_email: bool
) -> Person:
    """The person these claims belong to, with their communities and roles set from the
    groups (one write). At the first sign-on of (issuer, subject):

    - a kb account with the same e-mail is joined only when `link_verified_email` is on
      and the provider says the e-mail is verified; otherwise the sign-on is refused,
      since whoever controls an account at the provider could claim any e-mail;
    - otherwise a new person is created, with a user name from preferred_username (or
      the e-mail's local part), made unique with a number: a kb user of the same name
      is somebody else until an admin says otherwise.
    """
    for attempt in range(3):
        try:
            return _sign_in(session, claims, group_map, link_verified_email)
        except IntegrityError:
            # The same person's first sign-on in another tab or worker made the row (or
            # took the user name) a moment earlier: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _sign_in(
    session: Session, claims: SsoClaims, group_map: GroupMap, link_verified_email: bool
) -> Person:
    identity = session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.issuer == claims.issuer, SsoIdentity.subject == claims.subject
        )
    )
    with write(session):
        if identity is None:
            person = _existing_account(session, claims, link_verified_email) or _new_person(
                session, claims
            )
            identity = SsoIdentity(person=person, issuer=claims.issuer, subject=claims.subject)
            session.add(identity)
        else:
            person = identity.person
            _refresh_profile(person, claims)
        identity.last_sign_in_at = utcnow()
        person.communities, person.roles = group_map.apply(
            claims.groups, list(person.communities or []), list(person.roles or [])
        )
        session.flush()
    return person


def _existing_account(
    session: Session, claims: SsoClaims, link_verified_email: bool
) -> Person | None:
    email = _usable_email(claims.email)
    if email is None:
        return None
    same_email = list(
        session.scalars(select(Person).where(func.lower(Person.email) == email.lower()))
    )
    if not same_email:
        return None
    if not link_verified_email:
        raise SsoSignInRefused(
            f"kb already has an account with the e-mail {email}. It is not joined to this "
            "single sign-on by itself: ask a kb administrator to allow it "
            "(KB_OIDC_LINK_VERIFIED_EMAIL).",
            409,
        )
    if not claims.email_verified:
        raise SsoSignInRefused(
            f"kb already has an account with the e-mail {email}, but the provider does not "
            "say that this e-mail is verified, so kb cannot tell it is yours: verify it "
            "at the provider, or ask a kb administrator.",
            409,
        )
    if len(same_email) > 1:
        raise SsoSignInRefused(
            f"several kb accounts have the e-mail {email}: ask a kb administrator which is yours.",
            409,
        )
    person = same_email[0]
    already = session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.person_id == person.id, SsoIdentity.issuer == claims.issuer
        )
    )
    if already is not None:
        raise SsoSignInRefused(
            f"the kb account with the e-mail {email} already signs in with another account "
            "of this provider.",
            409,
        )
    return person


def _new_person(session: Session, claims: SsoClaims) -> Person:
    handle = _unique_handle(session, _handle_from(claims))
    person = Person(
        handle=handle,
        name=_clean(claims.name, 200) or handle,
        email=_usable_email(claims.email),
        roles=[],
        communities=[],
    )
    session.add(person)
    return person


def _refresh_profile(person: Person, claims: SsoClaims) -> None:
    """The provider is where people keep their name and e-mail: kb follows it."""
    name = _clean(claims.name, 200)
    if name:
        person.name = name
    email = _usable_email(claims.email)
    if email:
        person.email = email


def _handle_from(claims: SsoClaims) -> str:
    for candidate in (claims.preferred_username, claims.email):
        if not candidate:
            continue
        local = canonical_handle(candidate).split("@")[0]
        ascii_text = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
        handle = _NOT_IN_HANDLE.sub("-", ascii_text.lower()).strip("._-")[:_HANDLE_CHARS]
        handle = handle.rstrip("._-")
        if handle:
            return handle
    raise SsoSignInRefused(
        "the provider sent neither a preferred_username nor an e-mail, so kb has no name "
        "for the new account: the provider must release the profile or email scope to kb.",
        400,
    )


def _unique_handle(session: Session, base: str) -> str:
    similar = select(Person.handle).where(Person.handle.startswith(base, autoescape=True))
    taken = set(session.scalars(similar))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _usable_email(email: str | None) -> str | None:
    email = (email or "").strip()
    if "@" not in email or any(c.isspace() for c in email) or len(email) > 320:
        return None
    return email


def _clean(text: str | None, limit: int) -> str:
    return " ".join((text or "").split())[:limit]


def link_identity(session: Session, person: Person, issuer: str, subject: str) -> bool:
    """An administrator's decision that `person` signs on as (issuer, subject): their
    first sign-on then lands on this account instead of making a new one. Returns
    whether the link is new."""
    issuer, subject = issuer.strip().rstrip("/"), subject.strip()
    if not issuer or not subject:
        raise AccountError("both the provider's issuer and the person's subject are needed")
    identity = session.scalar(
        select(SsoIdentity).where(SsoIdentity.issuer == issuer, SsoIdentity.subject == subject)
    )
    if identity is not None:
        if identity.person_id == person.id:
            return False
        raise AccountError(
            f"the subject {subject!r} of {issuer} already signs in as {identity.person.handle}"
        )
    with write(session):
        session.add(SsoIdentity(person=person, issuer=issuer, subject=subject))
    return True


def people_with_sso(session: Session) -> set[int]:
    """The ids of the people who sign in through single sign-on."""
    return set(session.scalars(select(SsoIdentity.person_id).distinct()))
