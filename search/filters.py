"""Search filters, turned into SQL conditions on the entries table."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
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
    # Written on or after / on or before these days (UTC), both ends included.
    created_from: date | None = None
    created_to: date | None = None
    # Drafts and archived entries are left out unless asked for (by status or this flag).
    include_hidden: bool = False
    # Private communities the searcher is not a member of (kb.visibility): never found.
    hidden_communities: frozenset[int] = frozenset()

    @classmethod
    def seen_by(cls, visibility: Visibility, **filters: Any) -> "SearchFilters":
        return cls(hidden_communities=visibility.hidden_community_ids, **filters)

    def unnarrowed(self) -> "SearchFilters":
        """These filters without the ones a searcher narrows results by (kind, community,
        tag, status, dates): what the searcher may see at all."""
        return replace(
            self,
            kind=None,
            community=None,
            tag=None,
            status=None,
            created_from=None,
            created_to=None,
        )


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
    if filters.created_from is not None:
        conditions.append(Entry.created_at >= datetime.combine(filters.created_from, time()))
    if filters.created_to is not None:
        next_day = datetime.combine(filters.created_to + timedelta(days=1), time())
        conditions.append(Entry.created_at < next_day)
    if filters.hidden_communities:
        conditions.append(Visibility(filters.hidden_communities).allows(Entry.community_id))
    return and_(true(), *conditions)


def has_tag(tag: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return Entry.tags.cast(JSONB).contains([tag])
    tags = func.json_each(Entry.tags).table_valued("value")
    return exists(select(1).select_from(tags).where(tags.c.value == tag))


@dataclass(frozen=True)
class Passing:
    """What ranking needs of an entry that passes the filters."""

    status: str
    created_at: datetime


def passing_entries(
    engine: Engine, filters: SearchFilters, entry_ids: Iterable[int]
) -> dict[int, Passing]:
    """Each of these entries that passes the filters, with its status and date (one query)."""
    statement = allowed_entries(filters, engine.dialect.name)
    with engine.connect() as connection:
        rows = connection.execute(statement, {"found": list(entry_ids)}).all()
    return {entry_id: Passing(status, created_at) for entry_id, status, created_at in rows}


@lru_cache(maxsize=256)
def allowed_entries(filters: SearchFilters, dialect: str) -> Select[int, str, datetime]:
    """The id, status and date of each entry in the id list bound to `found` that passes
    the filters; made once per set of filters, as building a statement costs more than
    running it."""
    return select(Entry.id, Entry.status, Entry.created_at).where(
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
