"""Which state changes the lifecycle allows (after KCS: work in
progress → not validated → validated → archived).

Problems: open → in progress (someone took it) → solved (a solution is accepted) →
closed; a solved or closed problem can be reopened. Solutions, practices and articles:
draft → community → validated → standard → archived, and back where it makes sense.
Every change is recorded as an EntryEvent (who, when, what).
"""

from datetime import datetime

from sqlalchemy.orm import Session

from kb.announcements import StateChanged
from kb.errors import InvalidContribution, NotAllowed
from kb.history import record_event
from kb.models import Entry, EntryKind, EntryStatus, Person, utcnow
from kb.permissions import Action, allowed, require
from kb.problems import refresh_problem_status
from kb.reviews import request_reviews_citing
from kb.writes import announce, write

# target state → (states it may come from, the action that allows it)
CONTENT_TRANSITIONS: dict[EntryStatus, tuple[frozenset[EntryStatus], Action]] = {
    EntryStatus.COMMUNITY: (
        frozenset({EntryStatus.DRAFT, EntryStatus.VALIDATED, EntryStatus.ARCHIVED}),
        Action.VALIDATE,
    ),
    EntryStatus.VALIDATED: (
        frozenset({EntryStatus.COMMUNITY, EntryStatus.STANDARD}),
        Action.VALIDATE,
    ),
    EntryStatus.STANDARD: (frozenset({EntryStatus.VALIDATED}), Action.PROMOTE),
    EntryStatus.ARCHIVED: (
        frozenset(
            {
                EntryStatus.DRAFT,
                EntryStatus.COMMUNITY,
                EntryStatus.VALIDATED,
                EntryStatus.STANDARD,
            }
        ),
        Action.ARCHIVE,
    ),
}


def change_state(
    session: Session,
    actor: Person,
    entry: Entry,
    target: str,
    note: str = "",
    now: datetime | None = None,
) -> Entry:
    """Move an entry to another state, if the lifecycle and the person's role allow it."""
    try:
        wanted = EntryStatus(target)
    except ValueError:
        raise InvalidContribution(f"{target!r} is not a state") from None
    with write(session):
        current = EntryStatus(entry.status)
        if wanted == current:
            raise InvalidContribution(f"{entry.external_id} is {current} already")
        if entry.kind == EntryKind.PROBLEM:
            _change_problem_state(session, actor, entry, current, wanted)
        else:
            _change_content_state(actor, entry, current, wanted)
        entry.status = wanted
        entry.updated_at = now or utcnow()
        detail = f"{current} → {wanted}" + (f": {' '.join(note.split())}" if note.strip() else "")
        record_event(session, entry, actor, "state", detail, now)
        if entry.kind == EntryKind.PROBLEM and wanted == EntryStatus.OPEN:
            reason = f"source case {entry.external_id} was reopened"
            request_reviews_citing(session, entry, reason, now)
        announce(session, StateChanged(entry.id, current, wanted))
    return entry


def _change_content_state(
    actor: Person, entry: Entry, current: EntryStatus, wanted: EntryStatus
) -> None:
    if wanted not in CONTENT_TRANSITIONS:
        raise InvalidContribution(
            f"a {entry.kind} cannot become {wanted}; its states are draft, community, "
            "validated, standard and archived"
        )
    sources, action = CONTENT_TRANSITIONS[wanted]
    if current not in sources:
        hint = {
            EntryStatus.STANDARD: "validate it first",
            EntryStatus.COMMUNITY: "only a draft, a validated or an archived entry can",
            EntryStatus.VALIDATED: "only community or standard content can be",
        }.get(wanted, "")
        raise InvalidContribution(
            f"{entry.external_id} is {current}; it cannot go to {wanted}"
            + (f" ({hint})" if hint else "")
        )
    publishing_own_draft = (
        current == EntryStatus.DRAFT
        and wanted == EntryStatus.COMMUNITY
        and entry.author_id == actor.id
    )
    if not publishing_own_draft:
        require(actor, action)


def _change_problem_state(
    session: Session, actor: Person, problem: Entry, current: EntryStatus, wanted: EntryStatus
) -> None:
    asker_or_manager = problem.author_id == actor.id or allowed(actor, Action.ARCHIVE)
    if wanted == EntryStatus.CLOSED:
        if current != EntryStatus.SOLVED:
            raise InvalidContribution(
                "only a solved problem can be closed; accept a solution first"
            )
        if not asker_or_manager:
            raise NotAllowed("only the person who asked or a knowledge manager can close it")
    elif wanted == EntryStatus.OPEN:
        if current not in (EntryStatus.SOLVED, EntryStatus.CLOSED):
            raise InvalidContribution(f"{problem.external_id} is {current}, not solved or closed")
        if not asker_or_manager:
            raise NotAllowed("only the person who asked or a knowledge manager can reopen it")
        for solution in problem.solutions:  # the accepted answer did not hold
            solution.accepted = False
        session.flush()
        refresh_problem_status(session, problem.id)
    else:
        how = "a solution is accepted" if wanted == EntryStatus.SOLVED else "someone takes it"
        raise InvalidContribution(f"a problem becomes {wanted} by itself ({how}), not by hand")
