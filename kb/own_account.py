"""What a person changes about their own account (the account page, /api/me): the
e-mail address and when notifications are e-mailed, within what single sign-on allows.

An address a person types is not verified. Once single sign-on is set up, a first
sign-on looks kb accounts up by e-mail: with KB_OIDC_LINK_VERIFIED_EMAIL on it joins the
account that has the address, otherwise it is refused (409) while one has it. A self-set
address would then let anyone have a colleague's first sign-on joined to their own
account, or keep that colleague from signing on at all. So while single sign-on is set
up only an administrator sets addresses; and the address of a person who signs on is the
provider's, refreshed at every sign-on."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.accounts import AccountError, checked_email, set_email_address
from kb.errors import NotAllowed
from kb.models import EmailSetting, Person, SsoIdentity
from kb.notifications import set_email_setting
from kb.settings import Settings
from kb.writes import write


def email_locked_because(session: Session, person: Person, settings: Settings) -> str | None:
    """Why the person may not change their own address, or None if they may."""
    signs_on = session.scalar(select(SsoIdentity.id).where(SsoIdentity.person_id == person.id))
    if signs_on is not None:
        return (
            "your e-mail address comes from single sign-on and is refreshed at every "
            "sign-on: change it at your provider"
        )
    if settings.oidc_issuer or settings.oidc_discovery_url:
        return (
            "single sign-on looks accounts up by their e-mail address here, so only an "
            "administrator sets addresses (kb user add NAME --email ADDRESS)"
        )
    return None


def set_own_email(session: Session, person: Person, settings: Settings, text: str | None) -> None:
    """The person's own address; None or empty: none. Raises NotAllowed while it is
    locked (unless unchanged), AccountError if it is not an address or is another's."""
    address = checked_email(text) if text and text.strip() else None
    if address == person.email:
        return
    reason = email_locked_because(session, person, settings)
    if reason:
        raise NotAllowed(reason)
    if address is not None:
        taken = session.scalar(
            select(Person.id).where(
                func.lower(Person.email) == address.lower(), Person.id != person.id
            )
        )
        if taken is not None:
            raise AccountError(f"another account has the e-mail address {address}")
    set_email_address(session, person, address)


def set_own_notification_email(
    session: Session,
    person: Person,
    settings: Settings,
    address: str | None,
    setting: EmailSetting | str,
) -> None:
    """Where notifications are e-mailed (None: leave the address as it is) and when, in
    one write: both are saved or neither."""
    with write(session):
        if address is not None:
            set_own_email(session, person, settings, address)
        set_email_setting(session, person, setting)
