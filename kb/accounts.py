"""People who can sign in: roles, passwords (argon2) and API tokens for scripts."""

import hashlib
import secrets
import unicodedata
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kb.ids import ID_RULE, is_valid_id
from kb.models import ApiToken, Follow, FollowTarget, Notification, Person, utcnow
from kb.writes import write


class Role(StrEnum):
    WORKER = "worker"
    TUTOR = "tutor"
    KNOWLEDGE_MANAGER = "knowledge_manager"
    COMMUNITY_LEADER = "community_leader"
    ADMIN = "admin"


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


class WrongPassword(AccountError):
    """The current password given is not the person's (a changed password needs it)."""


class NoSuchToken(AccountError):
    """No token has that id, or it is someone else's: the two are not told apart."""


_hasher = PasswordHasher()
MIN_PASSWORD_CHARS = 8
# argon2 takes any length, but nobody types more: a bound keeps a huge one from costing.
MAX_PASSWORD_CHARS = 1000
MAX_EMAIL_CHARS = 320  # the column's length
MAX_TOKEN_LABEL_CHARS = 200  # the column's length


def parse_role(text: str) -> Role:
    name = text.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise AccountError(f"unknown role {text!r}; roles are: {known}") from None


# Around a typed name: whitespace of every kind (NBSP, U+3000 ideographic space, line
# separators) and invisible format characters (zero-width space, BOM, word joiner).
_PADDING_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf"}


def canonical_handle(typed: str) -> str:
    """The user name that was meant: NFKC-normalised (full-width letters become plain
    ones) with padding stripped from both ends. This is the one normalisation of names:
    sign-in looks people up by it, users are created with it, and the sign-in throttle
    keys on it (case-folded, see handle_key). Lookup stays case-sensitive: handles are
    stored as typed, and SQLite's lower() folds ASCII only, so a case-insensitive lookup
    would match differently on SQLite and PostgreSQL."""
    text = unicodedata.normalize("NFKC", typed)
    start, end = 0, len(text)
    while start < end and _is_padding(text[start]):
        start += 1
    while end > start and _is_padding(text[end - 1]):
        end -= 1
    return text[start:end]


def handle_key(typed: str) -> str:
    """What the sign-in throttle counts failures under: the canonical handle, case-folded.
    Every spelling that signs in as one person has the same key (and so do spellings
    that differ only in case, which count together although they are different names).
    A NUL, which no handle holds and PostgreSQL cannot store, is kept as U+FFFD."""
    key = unicodedata.normalize("NFKC", canonical_handle(typed).casefold())
    return key.replace("\x00", "\ufffd")


def _is_padding(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in _PADDING_CATEGORIES


def has_role(person: Person, *roles: Role) -> bool:
    held = set(person.roles or [])
    return Role.ADMIN in held or any(role in held for role in roles)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"a password has at most {MAX_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def _password_matches(person: Person, password: str) -> bool:
    if not person.password_hash:
        return False
    try:
        return _hasher.verify(person.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def change_password(session: Session, person: Person, current: str, new: str) -> None:
    """A new password, given the current one. It ends every session of the person (the
    caller signs its own session in again at the new generation); API tokens stay."""
    if not person.password_hash:
        raise AccountError(
            "your account has no password to change: an administrator sets one "
            "with `kb user add NAME`"
        )
    new_hash = hash_password(new)  # the rules first: they cost nothing to check
    if not _password_matches(person, current):
        raise WrongPassword("that is not your current password")
    with write(session):
        person.password_hash = new_hash
        end_sessions(person)


def authenticate(session: Session, handle: str, password: str) -> Person | None:
    """The person if the password is theirs; None otherwise (whatever the reason)."""
    name = canonical_handle(handle)
    # No handle holds spaces or control characters (add_user): no need to look those up.
    can_exist = name and not any(_is_padding(c) for c in name)
    person = session.scalar(select(Person).where(Person.handle == name)) if can_exist else None
    if person is None or not person.password_hash:
        _hasher.hash(password)  # spend the same time, so timing does not reveal who exists
        return None
    try:
        _hasher.verify(person.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(person.password_hash):
        with write(session):
            person.password_hash = _hasher.hash(password)
    return person


def add_user(
    session: Session,
    handle: str,
    roles: list[Role],
    password: str | None,
    name: str | None = None,
    email: str | None = None,
) -> tuple[Person, bool]:
    """Create a person, or give an existing one (for example an imported author) the roles
    and password. Returns the person and whether they were created."""
    if email is not None:
        email = checked_email(email)
    handle = canonical_handle(handle)
    if not handle or any(_is_padding(c) or c == "/" for c in handle):
        raise AccountError(f"{handle!r} cannot be a user name: no spaces or slashes")
    person = session.scalar(select(Person).where(Person.handle == handle))
    created = person is None
    if person is None and not is_valid_id(handle):  # imported people's rule: both export
        raise AccountError(f"{handle!r} cannot be a user name: {ID_RULE}")
    with write(session):
        if person is None:
            person = Person(handle=handle, name=name or handle, roles=[], communities=[])
            session.add(person)
        elif name:
            person.name = name
        person.roles = sorted({*(person.roles or []), *(role.value for role in roles)})
        if email is not None:
            person.email = email
        if password is not None:
            person.password_hash = hash_password(password)
            if not created:
                end_sessions(person)  # a new password ends the sessions signed in with it
        session.flush()
    return person, created


def checked_email(text: str) -> str:
    """The address as stored, or AccountError saying what is wrong with it. Deliberately
    loose (one @ with something on both sides, no spaces or control characters): the
    mail server is the judge of the rest."""
    address = text.strip()
    local, at, domain = address.rpartition("@")
    bad_char = any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf") for c in address)
    if not at or not local or not domain or bad_char:
        raise AccountError(f"{text!r} is not an e-mail address (name@example.org)")
    if len(address) > MAX_EMAIL_CHARS:
        raise AccountError(f"an e-mail address has at most {MAX_EMAIL_CHARS} characters")
    return address


def set_email_address(session: Session, person: Person, text: str | None) -> None:
    """Where notifications and routed problems are e-mailed; empty or None: nowhere."""
    address = checked_email(text) if text and text.strip() else None
    with write(session):
        person.email = address


def sign_out_everywhere(session: Session, person: Person) -> None:
    with write(session):
        end_sessions(person)


def end_sessions(person: Person) -> None:
    """End every signed-in session of this person, on every device: session cookies
    carry the generation they were signed in at, and only the current one is accepted.
    An increment in SQL, so two workers raising it at once both count. API tokens are
    not sessions: `kb token revoke` ends those."""
    person.session_generation = Person.session_generation + 1  # type: ignore[assignment]


def set_password_for_all(session: Session, password: str) -> int:
    """Give everyone without a password this one (the demo's shared password), each
    hashed with a salt of their own: no two people share a hash, and a hash cracked or
    copied says nothing about anyone else's. About 0.15 s per person (argon2)."""
    people = list(session.scalars(select(Person).where(Person.password_hash.is_(None))))
    with write(session):
        for person in people:
            person.password_hash = hash_password(password)
    return len(people)


def list_users(session: Session) -> list[Person]:
    return list(session.scalars(select(Person).order_by(Person.handle)))


# -- API tokens ----------------------------------------------------------------------

TOKEN_PREFIX = "kb_"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def checked_label(text: str) -> str:
    label = text.strip()
    if len(label) > MAX_TOKEN_LABEL_CHARS:
        raise AccountError(f"a token's label has at most {MAX_TOKEN_LABEL_CHARS} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in label):
        raise AccountError("a token's label cannot hold control characters")
    return label


def create_token(session: Session, person: Person, label: str = "") -> tuple[ApiToken, str]:
    """A new token; the plain text is returned once and never stored."""
    label = checked_label(label)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write(session):
        token = ApiToken(person_id=person.id, label=label, token_hash=_token_hash(plain))
        session.add(token)
        session.flush()
    return token, plain


def person_for_token(session: Session, plain: str) -> Person | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(plain)))
    if token is None or token.revoked_at is not None:
        return None
    with write(session):  # `kb token list` shows when each was last used
        token.last_used_at = utcnow()
    return token.person


def revoke_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no token has the id {token_id}")
    with write(session):
        token.revoked_at = token.revoked_at or utcnow()
    return token


def revoke_own_token(session: Session, person: Person, token_id: int) -> ApiToken:
    """Revoke one of the person's own tokens; someone else's is as unknown as a missing one."""
    token = session.get(ApiToken, token_id)
    if token is None or token.person_id != person.id:
        raise NoSuchToken(f"you have no token with the id {token_id}")
    return revoke_token(session, token_id)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def tokens_of(session: Session, person: Person) -> list[ApiToken]:
    """The person's tokens, active ones first, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.person_id == person.id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
        )
    )


# -- roles and removal ---------------------------------------------------------------

REMOVED_NAME = "Removed person"
REMOVED_HANDLE_PREFIX = "removed-"


def find_person(session: Session, handle: str) -> Person:
    person = session.scalar(select(Person).where(Person.handle == canonical_handle(handle)))
    if person is None:
        raise AccountError(f"nobody is called {handle!r}; see `kb user list`")
    return person


def change_roles(
    session: Session, person: Person, add: list[Role], remove: list[Role]
) -> list[str]:
    """Give and take roles; returns the roles held afterwards. Keeps one admin at least."""
    both = set(add) & set(remove)
    if both:
        raise AccountError(f"{', '.join(sorted(both))}: given and taken away at once")
    held = sorted({*(person.roles or []), *add} - set(remove))
    if Role.ADMIN in (person.roles or []) and Role.ADMIN not in held:
        _require_another_admin(session, person)
    with write(session):
        person.roles = held
    return held


def remove_user(session: Session, person: Person) -> str:
    """Close a person's account the way Stack Overflow for Teams and Discourse's
    "anonymize" do: what they wrote (entries, comments, edits, articles) stays, credited to
    "Removed person"; the account goes. They cannot sign in (password, sessions and API
    tokens end), hold no roles, have no e-mail, are suggested to nobody, and their inbox
    and follows are deleted. The handle becomes `removed-ID`, so the old name is free for a
    new account. Returns the new handle."""
    if Role.ADMIN in (person.roles or []):
        _require_another_admin(session, person)
    old_handle = person.handle
    with write(session):
        for token in person_tokens(session, person):
            token.revoked_at = token.revoked_at or utcnow()
        session.execute(delete(Follow).where(Follow.person_id == person.id))
        session.execute(
            delete(Follow).where(Follow.target == FollowTarget.PERSON, Follow.value == old_handle)
        )
        session.execute(delete(Notification).where(Notification.person_id == person.id))
        person.handle = f"{REMOVED_HANDLE_PREFIX}{person.id}"
        person.name = REMOVED_NAME
        person.title = ""
        person.expertise = ""
        person.roles = []
        person.communities = []
        person.password_hash = None
        person.email = None
        person.away = True
        person.routing_opt_out = True
        end_sessions(person)
    return person.handle


def is_removed(person: Person) -> bool:
    return person.handle == f"{REMOVED_HANDLE_PREFIX}{person.id}"


def person_tokens(session: Session, person: Person) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.person_id == person.id)))


def _require_another_admin(session: Session, person: Person) -> None:
    admins = [
        other
        for other in session.scalars(select(Person).where(Person.id != person.id))
        if Role.ADMIN in (other.roles or [])
    ]
    if not admins:
        raise AccountError(
            f"{person.handle} is the only admin; make someone else admin first "
            "(kb user role NAME --add admin)"
        )
