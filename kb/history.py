"""The durable trail of an entry: who did what to it, and when (EntryEvent rows), written
inside the write that did it."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.models import Entry, EntryEvent, Person, utcnow


def record_event(
    session: Session,
    entry: Entry,
    actor: Person | None,
    action: str,
    detail: str = "",
    now: datetime | None = None,
) -> EntryEvent:
    event = EntryEvent(
        entry_id=entry.id,
        actor_id=actor.id if actor else None,
        action=action,
        detail=detail,
        at=now or utcnow(),
    )
    session.add(event)
    return event


def events_of(session: Session, entry: Entry) -> list[EntryEvent]:
    return list(
        session.scalars(
            select(EntryEvent).where(EntryEvent.entry_id == entry.id).order_by(EntryEvent.at)
        )
    )
