"""Notifications: what happened that a person should hear of, in their inbox.

`notify_followers` subscribes to the loop's announcements and turns each into rows:

| announcement | who is told |
|---|---|
| a new solution (EntrySaved) | the asker and the problem's followers |
| a request taken, declined or passed on (RequestAnswered) | the asker |
| a solution accepted (SolutionAccepted) | the solution's author and the problem's followers |
| a new problem (EntrySaved) | followers of its tags, its community or its author |

Nobody is told of their own action. Once the rows are committed they are announced
(NotificationsCreated), and kb.notification_email mails those who want it at once.
"""

from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, true, update
from sqlalchemy.orm import Session

from kb.announcements import (
    EntrySaved,
    NotificationsCreated,
    RequestAnswered,
    SolutionAccepted,
    Subscribers,
)
from kb.database import Database
from kb.errors import InvalidContribution
from kb.follows import followers
from kb.models import (
    EmailSetting,
    Entry,
    EntryKind,
    FollowTarget,
    Notification,
    NotificationKind,
    Person,
    Routing,
    utcnow,
)
from kb.settings import Settings
from kb.visibility import may_see_community, visibility_for
from kb.writes import announce, write

REQUEST_KINDS = {
    "taken": NotificationKind.REQUEST_TAKEN,
    "declined": NotificationKind.REQUEST_DECLINED,
    "passed": NotificationKind.REQUEST_PASSED,
}


# -- turning announcements into notifications ------------------------------------------


def notify_followers(subscribers: Subscribers, settings: Settings, database: Database) -> None:
    """Subscribe: add notifications for each step of the loop, once it is committed."""

    def on_entry_saved(saved: EntrySaved) -> None:
        if not saved.created:
            return
        with database.session() as session:
            entry = session.get(Entry, saved.entry_id)
            if entry is None:
                return
            if entry.kind == EntryKind.SOLUTION:
                solution_posted(session, entry)
            elif entry.kind == EntryKind.PROBLEM:
                problem_asked(session, entry)

    def on_request_answered(answered: RequestAnswered) -> None:
        with database.session() as session:
            routing = session.get(Routing, answered.routing_id)
            if routing is not None:
                request_answered(session, routing, answered.state)

    def on_solution_accepted(accepted: SolutionAccepted) -> None:
        with database.session() as session:
            solution = session.get(Entry, accepted.solution_id)
            actor = session.get(Person, accepted.actor_id) if accepted.actor_id else None
            if solution is not None and solution.solves is not None:
                solution_accepted(session, solution.solves, solution, actor)

    subscribers.subscribe(EntrySaved, on_entry_saved)
    subscribers.subscribe(RequestAnswered, on_request_answered)
    subscribers.subscribe(SolutionAccepted, on_solution_accepted)


def solution_posted(session: Session, solution: Entry) -> list[Notification]:
    problem = solution.solves
    if problem is None:
        return []
    told = {problem.author_id} | _problem_followers(session, problem)
    text = f"{solution.author.name} posted a solution to “{problem.title}”"
    return _add(session, told, NotificationKind.SOLUTION_POSTED, problem, solution.author, text)


def request_answered(session: Session, routing: Routing, state: str) -> list[Notification]:
    kind = REQUEST_KINDS.get(state)
    if kind is None:
        return []
    problem, person = routing.problem, routing.person
    what = {"taken": "took", "declined": "declined", "passed": "passed on"}[state]
    text = f"{person.name} {what} your problem “{problem.title}”"
    return _add(session, {problem.author_id}, kind, problem, person, text)


def solution_accepted(
    session: Session, problem: Entry, solution: Entry, actor: Person | None
) -> list[Notification]:
    told = {solution.author_id} | _problem_followers(session, problem)
    who = actor.name if actor else "Someone"
    text = f"{who} accepted a solution to “{problem.title}”"
    return _add(session, told, NotificationKind.SOLUTION_ACCEPTED, problem, actor, text)


def problem_asked(session: Session, problem: Entry) -> list[Notification]:
    targets = [(FollowTarget.TAG, tag.lower()) for tag in problem.tags]
    targets += [
        (FollowTarget.COMMUNITY, problem.community.slug),
        (FollowTarget.PERSON, problem.author.handle),
    ]
    told = followers(session, targets)
    text = f"{problem.author.name} asked “{problem.title}” in {problem.community.name}"
    return _add(session, told, NotificationKind.PROBLEM_ASKED, problem, problem.author, text)


def _problem_followers(session: Session, problem: Entry) -> set[int]:
    return followers(session, [(FollowTarget.PROBLEM, str(problem.id))])


def _add(
    session: Session,
    people: set[int],
    kind: NotificationKind,
    entry: Entry,
    actor: Person | None,
    text: str,
) -> list[Notification]:
    """One notification per person, never to the actor; announced once committed."""
    recipients = sorted(people - {actor.id} if actor else people)
    if entry.community.private:  # followers who are not members are not told
        recipients = [
            person.id
            for person in session.scalars(select(Person).where(Person.id.in_(recipients)))
            if may_see_community(person, entry.community)
        ]
    if not recipients:
        return []
    with write(session):
        rows = [
            Notification(
                person_id=person_id,
                kind=kind,
                entry_id=entry.id,
                actor_id=actor.id if actor else None,
                text=text[:1000],
            )
            for person_id in recipients
        ]
        session.add_all(rows)
        session.flush()
        announce(session, NotificationsCreated(tuple(row.id for row in rows)))
    return rows


# -- reading them ----------------------------------------------------------------------


def notifications_of(
    session: Session, person: Person, limit: int = 50, offset: int = 0
) -> list[Notification]:
    """Newest first; none about an entry the person may no longer see."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.person_id == person.id, _still_visible(session, person))
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def count_of(session: Session, person: Person, *, unread_only: bool = False) -> int:
    query = select(func.count()).select_from(Notification)
    query = query.where(Notification.person_id == person.id, _still_visible(session, person))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return session.scalar(query) or 0


def _still_visible(session: Session, person: Person) -> ColumnElement[bool]:
    """Not about an entry of a members-only community the person has left."""
    visibility = visibility_for(session, person)
    if not visibility.hidden_community_ids:
        return true()
    hidden = select(Entry.id).where(~visibility.allows())
    return or_(Notification.entry_id.is_(None), Notification.entry_id.not_in(hidden))


def mark_read(
    session: Session,
    person: Person,
    notification_ids: list[int] | None = None,
    now: datetime | None = None,
) -> int:
    """Mark this person's notifications read (those named, or all); returns how many
    changed. Ids of other people's notifications are ignored, not an error: they are
    not this person's to mark."""
    query = update(Notification).where(
        Notification.person_id == person.id, Notification.read_at.is_(None)
    )
    if notification_ids is not None:
        query = query.where(Notification.id.in_(notification_ids))
    with write(session):
        result = session.execute(query.values(read_at=now or utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def set_email_setting(session: Session, person: Person, setting: EmailSetting | str) -> None:
    try:
        chosen = EmailSetting(setting)
    except ValueError:
        choices = ", ".join(choice.value for choice in EmailSetting)
        raise InvalidContribution(f"e-mail notifications are {choices}; not {setting!r}") from None
    with write(session):
        person.notification_email = chosen
