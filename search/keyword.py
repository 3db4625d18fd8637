"""Keyword retrieval: BM25 over titles, bodies and tags (SQLite FTS5)."""

import re
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import ColumnElement, Connection, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from kb.models import Entry
from search.filters import SearchFilters, filter_condition

if TYPE_CHECKING:
    from kb.database import Database

MAX_QUERY_TERMS = 64
_TOKEN = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """Lower-cased word tokens of a query, in order, without repeats."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        seen.setdefault(token, None)
    return list(seen)[:MAX_QUERY_TERMS]


class KeywordIndex(Protocol):
    def install(self, connection: Connection) -> None: ...

    def search(
        self, session: Session, query: str, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        """Entry ids with a score, best first (higher is better)."""
        ...


class SqliteKeywordIndex:
    # bm25() column weights: a word in the title says more than one in the body.
    TITLE_WEIGHT, BODY_WEIGHT, TAGS_WEIGHT = 3.0, 1.0, 2.0

    def install(self, connection: Connection) -> None:
        statements = [
            """CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(
                title, body, tags, content='entries', content_rowid='id',
                tokenize='porter unicode61 remove_diacritics 2')""",
            """CREATE TRIGGER IF NOT EXISTS entries_fts_insert AFTER INSERT ON entries BEGIN
                INSERT INTO entries_fts(rowid, title, body, tags)
                VALUES (new.id, new.title, new.body, new.tags);
            END""",
            """CREATE TRIGGER IF NOT EXISTS entries_fts_delete AFTER DELETE ON entries BEGIN
                INSERT INTO entries_fts(entries_fts, rowid, title, body, tags)
                VALUES ('delete', old.id, old.title, old.body, old.tags);
            END""",
            """CREATE TRIGGER IF NOT EXISTS entries_fts_update
                AFTER UPDATE OF title, body, tags ON entries BEGIN
                INSERT INTO entries_fts(entries_fts, rowid, title, body, tags)
                VALUES ('delete', old.id, old.title, old.body, old.tags);
                INSERT INTO entries_fts(rowid, title, body, tags)
                VALUES (new.id, new.title, new.body, new.tags);
            END""",
        ]
        for statement in statements:
            connection.exec_driver_sql(statement)

    def search(
        self, session: Session, query: str, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{term}"' for term in terms)
        fts = table("entries_fts", column("rowid"))
        fts_name: ColumnElement[str] = literal_column("entries_fts")
        rank = func.bm25(fts_name, self.TITLE_WEIGHT, self.BODY_WEIGHT, self.TAGS_WEIGHT)
        statement = (
            select(Entry.id, rank)
            .join_from(Entry, fts, fts.c.rowid == Entry.id)
            .where(fts_name.op("MATCH")(match))
            .where(filter_condition(filters, "sqlite"))
            .order_by(rank)
            .limit(limit)
        )
        return [(int(entry_id), -float(score)) for entry_id, score in session.execute(statement)]


def keyword_index_for(database: "Database") -> KeywordIndex:
    if not database.is_sqlite:
        raise NotImplementedError("keyword search on this database is not supported yet")
    return SqliteKeywordIndex()
