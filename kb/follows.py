"""Following a problem, a tag, a community or a person: whoever follows hears of what
happens there (kb.notifications decides what that is)."""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from kb.entry_schema import checked_tags
from kb.errors import InvalidContribution
from kb.models import Community, Entry, EntryKind, Follow, FollowTarget, Person
from kb.visibility import may_see_community
from kb.writes import write


def follow_value(
    session: Session, actor: Person, target: FollowTarget | str, value: str
) -> tuple[FollowTarget, str]:
    """The checked (target, value) to store: the problem's row id, the lower-cased tag,
    the community's slug or the person's handle. Raises InvalidContribution if there is
    nothing of that name to follow."""
    try:
        target = FollowTarget(target)
    except ValueError:
        kinds = ", ".join(kind.value for kind in FollowTarget)
        raise InvalidContribution(f"one can follow a {kinds}; not a {target!r}") from None
    value = value.strip()
    if "\x00" in value:  # no name holds one, and PostgreSQL cannot even compare it
        raise InvalidContribution("a name to follow cannot contain a NUL character")
    if target == FollowTarget.PROBLEM:
        problem = session.scalar(select(Entry).where(Entry.external_id == value))
        if (
            problem is None
            or problem.kind != EntryKind.PROBLEM
            or not may_see_community(actor, problem.community)
        ):
            raise InvalidContribution(f"no problem has the id {value!r}")
        return target, str(problem.id)
    if target == FollowTarget.TAG:
        tags = checked_tags([value])  # stored tags are tidied the same way
        if not tags:
            raise InvalidContribution("name the tag to follow")
        return target, tags[0]
    if target == FollowTarget.COMMUNITY:
        community = session.scalar(select(Community).where(Community.slug == value))
        if community is None or not may_see_community(actor, community):
            raise InvalidContribution(f"no community is called {value!r}")
        return target, value
    if session.scalar(select(Person.id).where(Person.handle == value)) is None:
        raise InvalidContribution(f"nobody is called {value!r}")
    if value == actor.handle:
        raise InvalidContribution("you cannot follow yourself")
    return target, value


def follow(session: Session, actor: Person, target: FollowTarget | str, value: str) -> Follow:
    """Follow; following twice changes nothing."""
    kind, key = follow_value(session, actor, target, value)
    with write(session):
        existing = _follow_of(session, actor, kind, key)
        if existing is not None:
            return existing
        row = Follow(person_id=actor.id, target=kind, value=key)
        session.add(row)
        session.flush()
    return row


def unfollow(session: Session, actor: Person, target: FollowTarget | str, value: str) -> bool:
    """Stop following; returns whether there was anything to stop."""
    kind, key = follow_value(session, actor, target, value)
    with write(session):
        removed = session.execute(
            delete(Follow).where(
                Follow.person_id == actor.id, Follow.target == kind, Follow.value == key
            )
        )
    return bool(getattr(removed, "rowcount", 0))


def follow_problem(session: Session, person: Person, problem: Entry) -> None:
    """Inside a write (the asker follows the problem they ask)."""
    if _follow_of(session, person, FollowTarget.PROBLEM, str(problem.id)) is None:
        session.add(Follow(person_id=person.id, target=FollowTarget.PROBLEM, value=str(problem.id)))
        session.flush()


def is_following(session: Session, person: Person, target: FollowTarget, value: str) -> bool:
    """`value` as stored: a problem's row id as text, a lower-cased tag, a slug, a handle."""
    return _follow_of(session, person, target, value) is not None


def follows_named(session: Session, person: Person, target: str, value: str) -> bool:
    """Whether the person follows this, named as people see it (a problem's id as shown,
    a tag, a slug, a handle); False if there is no such thing to follow."""
    try:
        kind, key = follow_value(session, person, target, value)
    except InvalidContribution:
        return False
    return is_following(session, person, kind, key)


def followers(session: Session, targets: Iterable[tuple[FollowTarget, str]]) -> set[int]:
    """Ids of the people who follow any of these (target, value) pairs."""
    pairs = [(str(target), value) for target, value in targets]
    if not pairs:
        return set()
    rows = session.scalars(
        select(Follow.person_id).where(tuple_(Follow.target, Follow.value).in_(pairs))
    )
    return set(rows)


def follows_of(session: Session, person: Person) -> list[Follow]:
    return list(
        session.scalars(
            select(Follow)
            .where(Follow.person_id == person.id)
            .order_by(Follow.target, Follow.value)
        )
    )


def _follow_of(session: Session, person: Person, target: FollowTarget, value: str) -> Follow | None:
    return session.scalar(
        select(Follow).where(
            Follow.person_id == person.id,
            Follow.target == target,
            Follow.value == value,
        )
    )


@dataclass(frozen=True)
class Followed:
    """One thing a person follows, as people name it: `value` is what follow() and
    unfollow() take (a problem's id as shown, a tag, a slug, a handle)."""

    target: FollowTarget
    value: str
    title: str  # what to show: the problem's title, the community's or person's name


def followed_by(session: Session, person: Person) -> list[Followed]:
    """What the person follows, problems first, each kind in name order; a problem or
    community that no longer exists is left out (there is nothing to hear of there)."""
    rows = follows_of(session, person)
    by_kind: dict[str, list[str]] = {}
    for row in rows:
        by_kind.setdefault(row.target, []).append(row.value)
    problem_ids = [int(v) for v in by_kind.get(FollowTarget.PROBLEM, []) if v.isdigit()]
    problems = session.execute(
        select(Entry.external_id, Entry.title).where(Entry.id.in_(problem_ids))
    ).all()
    communities = session.execute(
        select(Community.slug, Community.name).where(
            Community.slug.in_(by_kind.get(FollowTarget.COMMUNITY, []))
        )
    ).all()
    people = session.execute(
        select(Person.handle, Person.name).where(
            Person.handle.in_(by_kind.get(FollowTarget.PERSON, []))
        )
    ).all()
    things = [Followed(FollowTarget.PROBLEM, eid, title) for eid, title in problems]
    things.sort(key=lambda thing: thing.title.casefold())
    tags = by_kind.get(FollowTarget.TAG, [])
    things += [Followed(FollowTarget.TAG, tag, tag) for tag in sorted(tags)]
    for kind, pairs in ((FollowTarget.COMMUNITY, communities), (FollowTarget.PERSON, people)):
        named = sorted(pairs, key=lambda pair: pair[1].casefold())
        things += [Followed(kind, key, name) for key, name in named]
    return things
