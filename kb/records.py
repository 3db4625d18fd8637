"""What an import carries, validated before anything touches the database."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from kb.accounts import parse_role
from kb.entry_schema import MAX_BODY_CHARS, MAX_TITLE_CHARS, checked_tags
from kb.ids import ID_PATTERN, MAX_ID_CHARS, checked_id
from kb.models import EntryKind


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
# Checked with a message a person can act on; JSON Schema (OpenAPI) states the same rule.
Identifier = Annotated[
    str,
    AfterValidator(checked_id),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ID_CHARS,
            "pattern": f"^{ID_PATTERN.pattern}$",
        }
    ),
]


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
    # Lifecycle state of a solution, practice or article (problems derive theirs).
    status: str | None = None
    # Repertoire articles only:
    sections: dict[str, str] | None = None
    sources: list[Identifier] = Field(default_factory=list)
    owner: Identifier | None = None
    scope: Identifier | None = None
    review_interval_days: int | None = Field(default=None, ge=1, le=3650)
    next_review_at: Timestamp | None = None

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
        return checked_tags(value)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return _naive_utc(value)

    @field_validator("next_review_at")
    @classmethod
    def _utc_review(cls, value: datetime | None) -> datetime | None:
        return _naive_utc(value)

    @model_validator(mode="after")
    def _lifecycle_fields(self) -> "EntryRecord":
        content_states = ("draft", "community", "validated", "standard", "archived")
        if self.status is not None:
            if self.kind == EntryKind.PROBLEM:
                raise ValueError("a problem's status follows from its solutions; leave it out")
            if self.status not in content_states:
                raise ValueError(f"`status` is one of {', '.join(content_states)}")
        article_fields = (self.sections, self.owner, self.scope, self.review_interval_days)
        if self.kind != EntryKind.ARTICLE:
            if self.sources or any(value is not None for value in article_fields):
                raise ValueError("sections, sources, owner, scope and reviews are for articles")
            return self
        if (
            not self.sections
            or not self.sections.get("problem")
            or not self.sections.get("resolution")
        ):
            raise ValueError("an article needs `sections` with at least problem and resolution")
        if not self.sources:
            raise ValueError("an article needs `sources`: the ids of the cases it comes from")
        return self

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
    communities: list[Identifier] = Field(default_factory=list)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(parse_role(role).value for role in value))


class CommunityRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: Identifier
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    # Members only: only its members (and admins) see its entries (kb.visibility). Left
    # out, a re-import keeps what the community is (an operator may have set it).
    private: bool | None = None
