"""Search filters, turned into SQL conditions on the entries table."""

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, select, true
from sqlalchemy.dialects.postgresql import JSONB

from kb.models import HIDDEN_STATUSES, Community, Entry


@dataclass(frozen=True)
class SearchFilters:
    kind: str | None = None
    community: str | None = None  # community slug
    tag: str | None = None
    status: str | None = None
    # Drafts and archived entries are left out unless asked for (by status or this flag).
    include_hidden: bool = False


def filter_condition(filters: SearchFilters, dialect: str) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if filters.kind:
        conditions.append(Entry.kind == filters.kind)
    if filters.status:
        conditions.append(Entry.status == filters.status)
    elif not filters.include_hidden:
        conditions.append(Entry.status.not_in([str(s) for s in HIDDEN_STATUSES]))
    if filters.community:
        conditions.append(
            Entry.community_id.in_(select(Community.id).where(Community.slug == filters.community))
        )
    if filters.tag:
        conditions.append(has_tag(filters.tag.lower(), dialect))
    return and_(true(), *conditions)


def has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return Entry.tags.cast(JSONB).contains([tag])
    tags = func.json_each(Entry.tags).table_valued("value")
    return exists(select(1).select_from(tags).where(tags.c.value == tag))


@lru_cache(maxsize=256)
def allowed_statuses(filters: SearchFilters, dialect: str) -> Select[int, str]:
    """The id and status of each entry bound to `found` that passes the filters; made once
    per set of filters, as building a statement costs more than running it."""
    return select(Entry.id, Entry.status).where(
        Entry.id.in_(bindparam("found", expanding=True)), filter_condition(filters, dialect)
    )
