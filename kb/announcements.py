"""What changed, announced once the change is committed.

A write (kb's services, through `kb.writes.write`) queues announcements while it works
and they go out only after its transaction commits; a rolled-back write announces
nothing. Side effects subscribe here instead of being called by each entry point:
keeping the search index current and closing knowledge gaps (search.subscribers),
e-mail to the people asked (kb.notify), notifications (kb.notifications, and their
e-mail: kb.notification_email), and outgoing webhooks (kb.webhook_events). A subscriber gets the
announcement, never the writer's session: one that writes opens its own.

A failing subscriber is logged and the others still run; it never undoes the write.
What it missed is caught up by the backstops: the index generation and `kb reindex`
for the index, `kb doctor` for everything derived.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

logger = logging.getLogger("kb.announcements")


@dataclass(frozen=True)
class Announcement:
    """Base of every announcement."""


@dataclass(frozen=True)
class EntrySaved(Announcement):
    """An entry was created or its text changed: it must become searchable as it is now."""

    entry_id: int
    kind: str
    created: bool


@dataclass(frozen=True)
class StateChanged(Announcement):
    """An entry moved along its lifecycle (search reads states from the database, so the
    index does not need to hear of it)."""

    entry_id: int
    before: str
    after: str


@dataclass(frozen=True)
class SolutionAccepted(Announcement):
    problem_id: int
    solution_id: int
    # Who accepted it (the asker or a knowledge manager): notifications skip them.
    actor_id: int | None = None


@dataclass(frozen=True)
class RequestAnswered(Announcement):
    """Someone asked about a problem took, declined or passed on the request."""

    routing_id: int
    state: str


@dataclass(frozen=True)
class EntriesRemoved(Announcement):
    entry_ids: tuple[int, ...]


@dataclass(frozen=True)
class AttachmentRemoved(Announcement):
    """An attachment is gone: its stored file may be unreferenced now (kb.attachments)."""

    entry_id: int


@dataclass(frozen=True)
class EntriesImported(Announcement):
    """A bulk import: one announcement for the whole batch, not one per entry."""

    entry_ids: tuple[int, ...]


@dataclass(frozen=True)
class PeopleAsked(Announcement):
    """Routing requests were made (routed, passed on, a decline's successor, an
    escalation): the people asked should hear of it."""

    routing_ids: tuple[int, ...]


@dataclass(frozen=True)
class ArticlePromoted(Announcement):
    """Solved cases were distilled into a standard-repertoire article."""

    article_id: int  # the article's entry id
    actor_id: int


@dataclass(frozen=True)
class ReviewsDue(Announcement):
    """Articles whose review date passed (or whose review was asked for) were found by
    `kb reviews notify`: each is announced once per due date."""

    article_ids: tuple[int, ...]  # entry ids


@dataclass(frozen=True)
class NotificationsCreated(Announcement):
    """Notifications were added to people's inboxes: those who want it hear by e-mail."""

    notification_ids: tuple[int, ...]


A = TypeVar("A", bound=Announcement)


class Subscribers:
    """Who listens to which kind of announcement; one per Database."""

    def __init__(self) -> None:
        self._handlers: defaultdict[type[Announcement], list[Callable[[Any], None]]] = defaultdict(
            list
        )

    def subscribe(self, kind: type[A], handler: Callable[[A], None]) -> None:
        self._handlers[kind].append(handler)

    def deliver(self, announcements: Iterable[Announcement]) -> None:
        for announcement in announcements:
            for handler in self._handlers[type(announcement)]:
                try:
                    handler(announcement)
                except Exception:
                    logger.exception("%s failed on %s", _name(handler), announcement)


def _name(handler: Callable[..., None]) -> str:
    return getattr(handler, "__qualname__", repr(handler))
