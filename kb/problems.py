"""Rules about problems and their solutions."""

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from kb.models import Entry, EntryKind, EntryStatus


def refresh_problem_status(session: Session, problem_id: int) -> None:
    """A problem is solved exactly when one of its solutions is accepted."""
    problem = session.get(Entry, problem_id)
    if problem is None or problem.kind != EntryKind.PROBLEM:
        return
    has_accepted = session.scalar(
        select(exists().where(Entry.solves_id == problem_id, Entry.accepted.is_(True)))
    )
    problem.status = EntryStatus.SOLVED if has_accepted else EntryStatus.OPEN
