"""The inbox: what was asked of a person (kb.routing), the gaps assigned to them
(kb.gaps) and their notifications (kb.notifications), counted and seen together."""

from datetime import datetime

from sqlalchemy.orm import Session

from kb.gaps import unread_gaps
from kb.models import Gap, Notification, Person, Routing
from kb.notifications import count_of, mark_read
from kb.routing import mark_inbox_read, unread_count
from kb.writes import write


def unread_in_inbox(session: Session, person: Person) -> int:
    """The header's count: unread requests, assigned gaps and notifications."""
    return (
        unread_count(session, person)
        + unread_gaps(session, person)
        + count_of(session, person, unread_only=True)
    )


def mark_seen(
    session: Session,
    person: Person,
    routings: list[Routing],
    gaps: list[Gap],
    notifications: list[Notification],
    now: datetime | None = None,
) -> None:
    """The inbox was seen: what it showed stops counting as unread, in one write."""
    with write(session):
        mark_inbox_read(session, routings, gaps, now=now)
        if notifications:
            mark_read(session, person, [n.id for n in notifications], now=now)
