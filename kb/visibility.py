"""Who may see what: members-only communities.

A community is open (everyone who may read kb sees it) or private. The entries of a
private community, and the community itself, are visible only to its members and to
admins; to everyone else they do not exist: not in search, counts, pages, the API,
expert reasons, routing, collections, the console or exports. `Visibility` is worked
out once per request (or command) and passed to whatever lists or loads entries; SQL
queries add `visibility.allows(Entry.community_id)` so that filtering happens inside
the query, before any page is cut.

Members are `Person.communities` (slugs). docs/permissions.md has the full rules.
"""

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from kb.accounts import Role
from kb.models import Community, Entry, Person
from kb.permissions import roles_of


@dataclass(frozen=True)
class Visibility:
    """The private communities one viewer may not see (none: they see everything)."""

    hidden_community_ids: frozenset[int] = frozenset()

    @classmethod
    def everything(cls) -> "Visibility":
        """What an operator at the command line sees."""
        return cls()

    def can_see(self, entry: Entry) -> bool:
        return entry.community_id not in self.hidden_community_ids

    def can_see_community(self, community: Community) -> bool:
        return community.id not in self.hidden_community_ids

    def allows(
        self, community_id: InstrumentedAttribute[int] = Entry.community_id
    ) -> ColumnElement[bool]:
        """A SQL condition: the row's community is one this viewer may see."""
        if not self.hidden_community_ids:
            return true()
        return community_id.not_in(sorted(self.hidden_community_ids))


def visibility_for(session: Session, person: Person | None) -> Visibility:
    """What `person` may see (None: someone not signed in, reading a public kb)."""
    private = session.execute(select(Community.id, Community.slug).where(Community.private)).all()
    if not private or (person is not None and sees_every_community(person)):
        return Visibility()
    member_of = set(person.communities or []) if person is not None else set()
    return Visibility(frozenset(cid for cid, slug in private if slug not in member_of))


def sees_every_community(person: Person) -> bool:
    return Role.ADMIN in roles_of(person)


def may_see_community(person: Person, community: Community) -> bool:
    """Whether `person` may see `community` and its entries (for one person, no query)."""
    return (
        not community.private
        or sees_every_community(person)
        or community.slug in (person.communities or [])
    )


def audience_of(session: Session, community: Community) -> Visibility:
    """What everyone who may see `community` is sure to see: it, and the open ones.

    Routing uses it for the reasons it stores, since the asker, the people asked and the
    readers of the problem page all read them (no reason may name another private
    community's case)."""
    others = session.scalars(
        select(Community.id).where(Community.private, Community.id != community.id)
    )
    return Visibility(frozenset(others))
