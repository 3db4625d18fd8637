"""How many entries there are, by kind: one count that `kb status`, `kb reindex` and
`kb import` all report, so that their numbers agree."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.models import Entry, EntryKind


@dataclass(frozen=True)
class EntryCounts:
    by_kind: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def describe(self) -> str:
        """'144 entries (60 problems, 59 solutions, 24 practices, 1 article)'."""
        parts = ", ".join(_plural(count, kind) for kind, count in self.by_kind.items())
        return f"{_plural(self.total, 'entry')} ({parts})"


def count_entries(session: Session) -> EntryCounts:
    """Every entry, whatever its kind and status; every kind is listed, even at 0."""
    rows = session.execute(select(Entry.kind, func.count()).group_by(Entry.kind))
    found = {str(kind): count for kind, count in rows}
    by_kind = {kind.value: found.pop(kind.value, 0) for kind in EntryKind}
    return EntryCounts({**by_kind, **found})  # a kind kb does not know still counts


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"
