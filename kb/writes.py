"""One write, one transaction: `with write(session):` around everything a write action
changes. It commits at the end, or rolls back if anything inside raises; then, and only
after the commit, the announcements queued inside go to their subscribers.

A write inside another write (a comment turned into a solution adds that solution) joins
the outer one: one commit, the announcements of both after it. Inner helpers only
`flush()`, so that an importer or a script can group many actions in one write.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from kb.announcements import Announcement, Subscribers

# Keys in Session.info. The Database's sessionmaker puts its Subscribers under SUBSCRIBERS.
SUBSCRIBERS = "kb.subscribers"
_QUEUED = "kb.announcements"
_OPEN = "kb.write_open"


@contextmanager
def write(session: Session) -> Iterator[Session]:
    if session.info.get(_OPEN):
        yield session
        return
    session.info[_OPEN] = True
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop(_QUEUED, None)
        raise
    finally:
        session.info.pop(_OPEN, None)
    queued: list[Announcement] = session.info.pop(_QUEUED, [])
    subscribers: Subscribers | None = session.info.get(SUBSCRIBERS)
    if subscribers is not None:
        subscribers.deliver(queued)


def announce(session: Session, announcement: Announcement) -> None:
    """Queue an announcement; it goes out when the write it is part of has committed."""
    if not session.info.get(_OPEN):
        raise RuntimeError("announce() is for inside `with write(session):`")
    session.info.setdefault(_QUEUED, []).append(announcement)
