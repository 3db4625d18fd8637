"""Communities: creating them, open or members-only, and their members.

Members are managed by the community's leaders (of a community they belong to),
knowledge managers and admins. A knowledge manager who is not a member of a
members-only community manages its members without reading it (kb.visibility).
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.accounts import Role
from kb.errors import InvalidContribution, NotAllowed
from kb.ids import is_valid_id
from kb.models import Community, Entry, Person
from kb.permissions import Action, allowed, roles_of
from kb.writes import write


def may_manage(person: Person, community: Community) -> bool:
    held = roles_of(person)
    if Role.ADMIN in held or Role.KNOWLEDGE_MANAGER in held:
        return True
    return allowed(person, Action.MANAGE_MEMBERS) and community.slug in (person.communities or [])


def community_by_slug(session: Session, slug: str) -> Community:
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None:
        raise InvalidContribution(f"no community has the id {slug!r}")
    return community


def create_community(
    session: Session, slug: str, name: str, description: str = "", private: bool = False
) -> Community:
    """A new community (an operator's action: `kb community create`)."""
    slug = slug.strip()
    if not is_valid_id(slug):
        raise InvalidContribution(
            f"{slug!r} cannot be a community id: use letters, digits, '-', '_' or '.'"
        )
    if not name.strip():
        raise InvalidContribution("a community needs a name")
    with write(session):
        if session.scalar(select(Community.id).where(Community.slug == slug)) is not None:
            raise InvalidContribution(f"a community with the id {slug!r} exists already")
        community = Community(
            slug=slug, name=name.strip(), description=description.strip(), private=private
        )
        session.add(community)
        session.flush()
    return community


def set_private(session: Session, community: Community, private: bool) -> int:
    """Make a community members-only (or open again); returns how many entries it holds,
    all of which become invisible (or visible) to non-members at once: search filters
    read the flag from the database, so no reindex is needed."""
    with write(session):
        community.private = private
    return len(list(session.scalars(select(Entry.id).where(Entry.community_id == community.id))))


def set_membership(
    session: Session, actor: Person | None, community: Community, person: Person, member: bool
) -> None:
    """Add or remove a member. `actor` None is an operator at the command line."""
    if actor is not None and not may_manage(actor, community):
        raise NotAllowed(
            f"only a community leader of {community.name}, a knowledge manager or an admin "
            "can manage its members"
        )
    with write(session):
        slugs = [slug for slug in person.communities or [] if slug != community.slug]
        person.communities = [*slugs, community.slug] if member else slugs


def members_of(session: Session, community: Community) -> list[Person]:
    return [
        person
        for person in session.scalars(select(Person).order_by(Person.name))
        if community.slug in (person.communities or [])
    ]
