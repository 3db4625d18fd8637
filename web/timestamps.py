"""Times in the API: stored as naive UTC, published as RFC 3339 times with their offset
("2025-06-16T10:30:00Z"), as the OpenAPI `date-time` format promises."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
