"""Who may do what, and which state changes the lifecycle allows (after KCS: work in
progress → not validated → validated → archived).

Problems: open → in progress (someone took it) → solved (a solution is accepted) →
closed; a solved or closed problem can be reopened. Solutions, practices and articles:
draft → community → validated → standard → archived, and back where it makes sense.
Every change is recorded as an EntryEvent (who, when, what).
"""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb.accounts import Role
from kb.contributions import InvalidContribution, NotAllowed
from kb.models import Entry, EntryEvent, EntryKind, EntryStatus, Person, utcnow
from kb.problems import refresh_problem_status


class Action(StrEnum):
    CAPTURE = "capture"  # ask, answer, share a practice, comment
    REUSE = "reuse"  # "this solved my case too", helpful, "did not work for me"
    VALIDATE = "validate"  # community ⇄ validated
    PROMOTE = "promote"  # validated ⇄ standard; write repertoire articles and booklets
    SET_REVIEW = "set_review"  # review intervals and review outcomes
    ARCHIVE = "archive"  # archive and restore
    FLAG_FOR_REVIEW = "flag_for_review"  # put an article in the review queue now
    MANAGE_MEMBERS = "manage_members"  # of a community one leads (admins: any)


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.WORKER: frozenset({Action.CAPTURE, Action.REUSE}),
    Role.TUTOR: frozenset({Action.CAPTURE, Action.REUSE, Action.FLAG_FOR_REVIEW}),
    Role.KNOWLEDGE_MANAGER: frozenset(
        {
            Action.CAPTURE,
            Action.REUSE,
            Action.VALIDATE,
            Action.PROMOTE,
            Action.SET_REVIEW,
            Action.ARCHIVE,
            Action.FLAG_FOR_REVIEW,
        }
    ),
    Role.COMMUNITY_LEADER: frozenset({Action.CAPTURE, Action.REUSE, Action.MANAGE_MEMBERS}),
    Role.ADMIN: frozenset(Action),
}


def roles_of(person: Person) -> set[Role]:
    """Everyone signed in is at least a worker."""
    held = {Role(role) for role in person.roles or [] if role in Role._value2member_map_}
    return held | {Role.WORKER}


def allowed(person: Person, action: Action) -> bool:
    return any(action in ROLE_ACTIONS[role] for role in roles_of(person))


def require(person: Person, action: Action) -> None:
    if not allowed(person, action):
        may = [
            ("an " if role.value[0] in "aeiou" else "a ") + role.value.replace("_", " ")
            for role, actions in ROLE_ACTIONS.items()
            if action in actions
        ]
        raise NotAllowed(f"only {' or '.join(may)} can {action.value.replace('_', ' ')}")


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
        from kb.repertoire import request_reviews_citing

        request_reviews_citing(session, entry, f"source case {entry.external_id} was reopened", now)
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
