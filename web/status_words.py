"""How the pages name an entry's status: in words, never the stored value."""

from kb.models import EntryStatus

STATUS_WORDS = {
    EntryStatus.OPEN: "Open",
    EntryStatus.IN_PROGRESS: "In progress",
    EntryStatus.SOLVED: "Solved",
    EntryStatus.CLOSED: "Closed",
    EntryStatus.DRAFT: "Draft",
    EntryStatus.COMMUNITY: "Shared",
    EntryStatus.VALIDATED: "Validated",
    EntryStatus.STANDARD: "Standard",
    EntryStatus.ARCHIVED: "Archived",
}


def status_word(status: str) -> str:
    """In words: "in_progress" is "In progress"; an unknown value still reads as words."""
    try:
        return STATUS_WORDS[EntryStatus(status)]
    except ValueError:
        return status.replace("_", " ").capitalize()
