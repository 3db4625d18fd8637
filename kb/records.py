"""What an import carries, validated before anything touches the database."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from kb.models import EntryKind

MAX_BODY_CHARS = 1_000_000
MAX_TITLE_CHARS = 500


def _parse_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as error:
            raise ValueError(f"not an ISO date-time: {value!r}") from error
        return parsed
    return value


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


Timestamp = Annotated[datetime, BeforeValidator(_parse_datetime)]
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class EntryRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: Identifier
    kind: EntryKind
    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS)
    body: str = Field(default="", max_length=MAX_BODY_CHARS)
    author: Identifier
    tags: list[str] = Field(default_factory=list)
    community: Identifier | None = None
    created_at: Timestamp | None = None
    solves: Identifier | None = None
    accepted: bool = False

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("tags")
    @classmethod
    def _normalise_tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(tag.strip().lower() for tag in value if tag.strip()))

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _naive_utc(value)

    @model_validator(mode="after")
    def _solution_fields(self) -> "EntryRecord":
        if self.kind != EntryKind.SOLUTION and self.solves:
            raise ValueError("only a solution can have `solves`")
        if self.kind != EntryKind.SOLUTION and self.accepted:
            raise ValueError("only a solution can be `accepted`")
        return self


class PersonRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    title: str = ""
    expertise: str = ""
    roles: list[str] = Field(default_factory=lambda: ["worker"])
    communities: list[str] = Field(default_factory=list)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class CommunityRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
