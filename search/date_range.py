"""When the entries searched for were written: a recent period, or from one day to another."""

from datetime import date, timedelta
from enum import StrEnum

from search.query import QueryError


class Since(StrEnum):
    ANY = "any"
    MONTH = "30d"  # the last 30 days
    YEAR = "year"  # the last 365 days

    @property
    def label(self) -> str:
        return {"any": "Any time", "30d": "Last 30 days", "year": "Last year"}[self.value]


def created_range(
    since: Since | None, date_from: date | None, date_to: date | None, today: date
) -> tuple[date | None, date | None]:
    """The first and last day (both included, None: open) that entries were written on.

    A period counts back from today; it cannot be given together with days.
    """
    period = since if since not in (None, Since.ANY) else None
    if period is not None and (date_from is not None or date_to is not None):
        raise QueryError(
            f"choose either a period (since={period.value}) or days (from, to), not both"
        )
    if period is Since.MONTH:
        return today - timedelta(days=30), None
    if period is Since.YEAR:
        return today - timedelta(days=365), None
    if date_from is not None and date_to is not None and date_from > date_to:
        raise QueryError(
            f"the first day ({date_from.isoformat()}) is after the last day "
            f"({date_to.isoformat()}): swap them"
        )
    return date_from, date_to
