"""Read-side queries behind the pages: recent problems, an entry with its
solutions, a person's record, a community's entries and members."""

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import Community, Entry, EntryKind, Person
from kb.visibility import Visibility


@dataclass
class CommunitySummary:
    community: Community
    entries: int
    members: int


@dataclass
class PersonRecord:
    person: Person
    solutions: list[Entry] = field(default_factory=list)
    accepted: int = 0
    practices: list[Entry] = field(default_factory=list)
    problems: list[Entry] = field(default_factory=list)


def recent_problems(session: Session, visibility: Visibility, limit: int = 10) -> list[Entry]:
    return list(
        session.scalars(
            select(Entry)
            .where(Entry.kind == EntryKind.PROBLEM, visibility.allows())
            .order_by(Entry.created_at.desc())
            .limit(limit)
        )
    )


def community_summaries(session: Session, visibility: Visibility) -> list[CommunitySummary]:
    counts = dict(
        session.execute(select(Entry.community_id, func.count()).group_by(Entry.community_id)).all()
    )
    people = list(session.scalars(select(Person)))
    summaries = []
    for community in session.scalars(select(Community).order_by(Community.name)):
        if not visibility.can_see_community(community):
            continue
        members = sum(1 for p in people if community.slug in p.communities)
        entries = counts.get(community.id, 0)
        if entries or members:
            summaries.append(CommunitySummary(community, entries, members))
    return summaries


def entry_by_external_id(
    session: Session, external_id: str, visibility: Visibility
) -> Entry | None:
    """None if there is no such entry, or the viewer may not see it."""
    entry = session.scalar(select(Entry).where(Entry.external_id == external_id))
    return entry if entry is not None and visibility.can_see(entry) else None


def visible_communities(session: Session, visibility: Visibility) -> list[Community]:
    """The communities this viewer may see and post to, by name."""
    communities = session.scalars(select(Community).order_by(Community.name))
    return [c for c in communities if visibility.can_see_community(c)]


def solutions_of(
    session: Session, problem: Entry, visibility: Visibility | None = None
) -> list[Entry]:
    """Accepted first, then oldest first."""
    visibility = visibility or Visibility.everything()
    return list(
        session.scalars(
            select(Entry)
            .where(Entry.solves_id == problem.id, visibility.allows())
            .order_by(Entry.accepted.desc(), Entry.created_at)
        )
    )


def person_record(session: Session, handle: str, visibility: Visibility) -> PersonRecord | None:
    person = session.scalar(select(Person).where(Person.handle == handle))
    if person is None:
        return None
    authored = list(
        session.scalars(
            select(Entry)
            .where(Entry.author_id == person.id, visibility.allows())
            .order_by(Entry.created_at.desc())
        )
    )
    record = PersonRecord(person)
    for entry in authored:
        if entry.kind == EntryKind.SOLUTION:
            record.solutions.append(entry)
            record.accepted += int(entry.accepted)
        elif entry.kind == EntryKind.PRACTICE:
            record.practices.append(entry)
        else:
            record.problems.append(entry)
    return record


def community_page(
    session: Session, slug: str, visibility: Visibility, limit: int = 50
) -> tuple[Community, list[Entry], list[Person]] | None:
    """None if there is no such community, or the viewer may not see it."""
    community = session.scalar(select(Community).where(Community.slug == slug))
    if community is None or not visibility.can_see_community(community):
        return None
    entries = list(
        session.scalars(
            select(Entry)
            .where(Entry.community_id == community.id)
            .order_by(Entry.created_at.desc())
            .limit(limit)
        )
    )
    members = [
        p for p in session.scalars(select(Person).order_by(Person.name)) if slug in p.communities
    ]
    return community, entries, members


def visible_community_slugs(session: Session, person: Person, visibility: Visibility) -> list[str]:
    """The communities `person` belongs to that the viewer may see."""
    hidden = {
        slug
        for cid, slug in session.execute(select(Community.id, Community.slug))
        if cid in visibility.hidden_community_ids
    }
    return [slug for slug in person.communities or [] if slug not in hidden]


def community_visible(session: Session, slug: str, visibility: Visibility) -> bool:
    """Whether a community called `slug` exists and the viewer may see it."""
    community = session.scalar(select(Community).where(Community.slug == slug))
    return community is not None and visibility.can_see_community(community)
