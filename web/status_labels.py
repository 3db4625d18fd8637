"""What an entry's status means to a reader, in the words the pages show.

The stored values stay what the lifecycle calls them (kb/models.py, EntryStatus);
"community" among them means shared with the community, not yet validated, and
would read as a clash with the Community facet: it shows as "Shared".
"""

from kb.models import EntryStatus

STATUS_LABELS: dict[str, str] = {
    EntryStatus.OPEN: "Open",
    EntryStatus.IN_PROGRESS: "Being worked on",
    EntryStatus.SOLVED: "Solved",
    EntryStatus.CLOSED: "Closed",
    EntryStatus.DRAFT: "Draft",
    EntryStatus.COMMUNITY: "Shared",
    EntryStatus.VALIDATED: "Validated",
    EntryStatus.STANDARD: "Standard",
    EntryStatus.ARCHIVED: "Archived",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())
