"""Following a problem, a tag, a community or a person: whoever follows hears of what
happens there (kb.notifications decides what that is)."""

from collections.abc import Iterable

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
