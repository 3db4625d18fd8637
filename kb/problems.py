"""Rules about problems and their solutions."""

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from kb.models import Entry, EntryKind, EntryStatus, Routing, RoutingState


def refresh_problem_status(session: Session, problem_id: int) -> None:
    """Solved exactly when a solution is accepted (closed stays closed); otherwise in
    progress while someone it was routed to has taken it, else open."""
    problem = session.get(Entry, problem_id)
    if problem is None or problem.kind != EntryKind.PROBLEM:
        return
    has_accepted = session.scalar(
        select(exists().where(Entry.solves_id == problem_id, Entry.accepted.is_(True)))
    )
    if has_accepted:
        closed = problem.status == EntryStatus.CLOSED
        problem.status = EntryStatus.CLOSED if closed else EntryStatus.SOLVED
        return
    taken = session.scalar(
        select(
            exists().where(Routing.problem_id == problem_id, Routing.state == RoutingState.TAKEN)
        )
    )
    problem.status = EntryStatus.IN_PROGRESS if taken else EntryStatus.OPEN
