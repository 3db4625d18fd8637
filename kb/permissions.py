"""Who may do what: each role's actions. Everyone signed in is at least a worker."""

from enum import StrEnum

from kb.accounts import Role
from kb.errors import NotAllowed
from kb.models import Person


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
