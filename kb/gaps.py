"""Knowledge gaps a facilitator assigned: to whom, what answers them, what is unread.
Finding the gaps (grouping failed searches by meaning) is search.gaps."""

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.accounts import Role, has_role
from kb.errors import InvalidContribution, NotAllowed
from kb.models import Entry, EntryKind, Gap, GapState, Passage, Person, utcnow
from kb.writes import write

CONSOLE_ROLES = (Role.TUTOR, Role.COMMUNITY_LEADER, Role.KNOWLEDGE_MANAGER)
CONSOLE_DENIED = "the console is for tutors, community leaders, knowledge managers and admins"


def may_use_console(person: Person | None) -> bool:
    return person is not None and has_role(person, *CONSOLE_ROLES)


@dataclass(frozen=True)
class GapToAssign:
    """A group of needs as the console found it (search.gaps): its label, a few example
    texts, how many there were, and their mean vector."""

    label: str
    examples: list[str]
    size: int
    centroid: np.ndarray


def assign_gap(
    session: Session,
    actor: Person,
    gap: GapToAssign,
    assignee_handle: str,
    note: str = "",
    community: str | None = None,
) -> Gap:
    if not may_use_console(actor):
        raise NotAllowed(CONSOLE_DENIED)
    if gap.size == 0:
        raise InvalidContribution("this group has no texts")
    assignee = session.scalar(select(Person).where(Person.handle == assignee_handle.strip()))
    if assignee is None:
        raise InvalidContribution(f"nobody is called {assignee_handle!r}")
    with write(session):
        row = Gap(
            label=gap.label[:300],
            examples=gap.examples,
            size=gap.size,
            centroid=gap.centroid.astype(np.float32).tobytes(),
            community=community,
            assigned_to_id=assignee.id,
            assigned_by_id=actor.id,
            note=" ".join(note.split())[:2000],
        )
        session.add(row)
        session.flush()
    return row


def open_gaps(session: Session) -> list[Gap]:
    return list(
        session.scalars(
            select(Gap).where(Gap.state == GapState.OPEN).order_by(Gap.created_at.desc())
        )
    )


def close_answered_gaps(
    session: Session, entry: Entry, vectors: np.ndarray, min_similarity: float
) -> list[Gap]:
    """A new solution or practice answers every open gap whose centroid it matches."""
    if entry.kind == EntryKind.PROBLEM or len(vectors) == 0:
        return []
    closed = []
    for gap in open_gaps(session):
        centroid = np.frombuffer(gap.centroid, dtype=np.float32)
        if centroid.shape[0] != vectors.shape[1]:
            continue
        if float(np.max(vectors @ centroid)) >= min_similarity:
            gap.state = GapState.CLOSED
            gap.answer_id = entry.id
            gap.closed_at = utcnow()
            closed.append(gap)
    return closed


def close_gaps_answered_by(session: Session, entry: Entry, min_similarity: float) -> list[Gap]:
    """Close the open gaps a new solution or practice answers, using its stored vectors
    (search.subscribers calls it once the entry is indexed)."""
    rows = session.scalars(select(Passage.vector).where(Passage.entry_id == entry.id))
    vectors = [np.frombuffer(row, dtype=np.float32) for row in rows]
    if not vectors:
        return []
    with write(session):
        return close_answered_gaps(session, entry, np.vstack(vectors), min_similarity)


def gaps_assigned_to(session: Session, person: Person) -> list[Gap]:
    return list(
        session.scalars(
            select(Gap)
            .where(Gap.assigned_to_id == person.id)
            .order_by(Gap.state.desc(), Gap.created_at.desc())
        )
    )


def unread_gaps(session: Session, person: Person) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Gap)
            .where(Gap.assigned_to_id == person.id, Gap.read_at.is_(None))
        )
        or 0
    )


def mark_gaps_read(session: Session, gaps: list[Gap]) -> None:
    """Part of the write that marks the inbox seen (kb.routing.mark_inbox_read)."""
    with write(session):
        for gap in gaps:
            gap.read_at = gap.read_at or utcnow()
