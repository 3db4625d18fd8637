"""Search filters, turned into SQL conditions on the entries table."""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    exists,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Engine

from kb.models import HIDDEN_STATUSES, Community, Entry
from kb.visibility import Visibility


@dataclass(frozen=True)
class SearchFilters:
    kind: str | None = None
    community: str | None = None  # community slug
    tag: str | None = None
    status: str | None = None
    # Drafts and archived entries are left out unless asked for (by status or this flag).
    include_hidden: bool = False
    # Private communities the searcher is not a member of (kb.visibility): never found.
    hidden_communities: frozenset[int] = frozenset()

    @classmethod
    def seen_by(cls, visibility: Visibility, **filters: Any) -> "SearchFilters":
        return cls(hidden_communities=visibility.hidden_community_ids, **filters)


def filter_condition(filters: SearchFilters, dialect: str) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if filters.kind:
        conditions.append(Entry.kind == filters.kind)
    if filters.status:
        conditions.append(Entry.status == filters.status)
    elif not filters.include_hidden:
        # One comparison per status rather than NOT IN (…), whose list SQLAlchemy
        # would re-render on every run.
        conditions.extend(Entry.status != str(status) for status in HIDDEN_STATUSES)
    if filters.community:
        conditions.append(
            Entry.community_id.in_(select(Community.id).where(Community.slug == filters.community))
        )
    if filters.tag:
        conditions.append(has_tag(filters.tag.lower(), dialect))
    if filters.hidden_communities:
        conditions.append(Visibility(filters.hidden_communities).allows(Entry.community_id))
    return and_(true(), *conditions)


def has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return Entry.tags.cast(JSONB).contains([tag])
    tags = func.json_each(Entry.tags).table_valued("value")
    return exists(select(1).select_from(tags).where(tags.c.value == tag))


def passing_statuses(
    engine: Engine, filters: SearchFilters, entry_ids: Iterable[int]
) -> dict[int, str]:
    """The status of each of these entries that passes the filters (one query)."""
    statement = allowed_statuses(filters, engine.dialect.name)
    with engine.connect() as connection:
        return dict(connection.execute(statement, {"found": list(entry_ids)}).all())


@lru_cache(maxsize=256)
def allowed_statuses(filters: SearchFilters, dialect: str) -> Select[int, str]:
    """The id and status of each entry in the id list bound to `found` that passes the
    filters; made once per set of filters, as building a statement costs more than
    running it."""
    return select(Entry.id, Entry.status).where(
        id_in_list("found", dialect), filter_condition(filters, dialect)
    )


def id_in_list(name: str, dialect: str) -> ColumnElement[bool]:
    """`Entry.id` is in the list of ids bound to `name`, passed as one value (an array, or
    JSON on SQLite): the statement's text stays the same whatever the list's length, so
    the database prepares it once, where `IN (?, ?, …)` differs with every length."""
    if dialect == "postgresql":
        return Entry.id == any_(bindparam(name, type_=ARRAY(Integer)))
    ids = func.json_each(bindparam(name, type_=JSON)).table_valued("value")
    return Entry.id.in_(select(ids.c.value))
