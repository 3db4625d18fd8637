"""Community membership, managed by the community's leaders (and admins)."""

from sqlalchemy.orm import Session

from kb.accounts import Role
from kb.errors import NotAllowed
from kb.models import Community, Person
from kb.permissions import Action, allowed, roles_of
from kb.writes import write


def may_manage(person: Person, community: Community) -> bool:
    if Role.ADMIN in roles_of(person):
        return True
    return allowed(person, Action.MANAGE_MEMBERS) and community.slug in (person.communities or [])


def set_membership(
    session: Session, actor: Person, community: Community, person: Person, member: bool
) -> None:
    if not may_manage(actor, community):
        raise NotAllowed(
            f"only a community leader of {community.name}, or an admin, can manage its members"
        )
    with write(session):
        slugs = [slug for slug in person.communities or [] if slug != community.slug]
        person.communities = [*slugs, community.slug] if member else slugs
