"""Keyword retrieval over titles, bodies and tags, weighted title 3, tags 2, body 1.

SQLite: the FTS5 table, ranked by bm25().
PostgreSQL: the generated, weighted tsvector column with its GIN index, ranked by ts_rank_cd().
kb/keyword_schema.py makes them; this module only queries them.

Both rank every entry that matches before taking the best, so a query word found in
most of a large knowledge base makes a search slow while adding little to its ranking.
As Elasticsearch's "common terms" query did, a word found in more than
KB_KEYWORD_COMMON_ENTRIES entries is common: the query matches any of its other words,
and only when every word is common does it match entries that have them all.
"""

import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, TextClause, text

from kb.keyword_schema import FTS_TABLE, TEXT_SEARCH_CONFIG, VECTOR_COLUMN

if TYPE_CHECKING:
    from kb.database import Database

MAX_QUERY_TERMS = 64
DEFAULT_COMMON_ENTRIES = 2000
_TOKEN = re.compile(r"\w+", re.UNICODE)


# Words so common that matching them only makes the keyword side score most of the
# knowledge base (PostgreSQL's english configuration drops them by itself).
STOPWORDS = frozenset(
    """a an and are as at be but by can could did do does for from had has have how i if in
    into is it its me my no not of on or our so than that the their them then there these
    they this to was we were what when where which who why will with would you your""".split()
)


def query_terms(query: str) -> list[str]:
    """Lower-cased word tokens of a query, in order, without repeats; common words are
    left out unless the query has nothing else."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(query.lower()):
        seen.setdefault(token, None)
    terms = [term for term in seen if term not in STOPWORDS] or list(seen)
    return terms[:MAX_QUERY_TERMS]


class WordCounts:
    """How many entries each word was found in lately (counted up to a cap), so that a
    query's words need not all be counted again: counts move slowly, and only decide
    whether a word is common. A count is kept for `max_age` seconds; the whole lot is
    dropped when `max_words` are held."""

    def __init__(self, max_age: float = 300.0, max_words: int = 50_000) -> None:
        self.max_age, self.max_words = max_age, max_words
        self._counts: dict[str, tuple[int, float]] = {}

    def get(self, word: str) -> int | None:
        found = self._counts.get(word)
        if found is None or time.monotonic() - found[1] > self.max_age:
            return None
        return found[0]

    def put(self, word: str, count: int) -> None:
        if len(self._counts) >= self.max_words:
            self._counts = {}
        self._counts[word] = (count, time.monotonic())


def match_terms(
    connection: Connection,
    terms: list[str],
    matching: str,
    common_entries: int,
    counts: WordCounts,
) -> tuple[list[str], str]:
    """The words to match and how ("or", "and"): the uncommon ones, any of them; if
    every word is common, all of them.

    `matching` selects the entries that match the word bound to `:term`; each word's
    entries are counted only up to one past the limit, so common words stay cheap.
    """
    known = {term: counts.get(term) for term in terms}
    missing = [term for term, count in known.items() if count is None]
    if missing:
        params = {f"term{number}": term for number, term in enumerate(missing)}
        found = connection.execute(
            _counting(matching, len(missing)), {**params, "cap": common_entries + 1}
        )
        for term, count in zip(missing, found.one(), strict=True):
            known[term] = count
            counts.put(term, count)
    uncommon = [term for term in terms if (known[term] or 0) <= common_entries]
    if uncommon:
        return uncommon, "or"
    return terms, "and"


@lru_cache(maxsize=MAX_QUERY_TERMS * 2)
def _counting(matching: str, terms: int) -> TextClause:
    counts = ", ".join(
        f"(SELECT count(*) FROM ({matching.replace(':term', f':term{number}')} LIMIT :cap) AS m)"
        for number in range(terms)
    )
    return text(f"SELECT {counts}")


class KeywordIndex(Protocol):
    def search(self, connection: Connection, query: str, limit: int) -> list[tuple[int, float]]:
        """The best `limit` matching entries (ids with a score, best first, higher is
        better), drafts and archived ones included: the caller filters."""
        ...


class _CommonWordsCut:
    """What both keyword indexes keep for match_terms: the limit and the recent counts."""

    def __init__(self, common_entries: int = DEFAULT_COMMON_ENTRIES) -> None:
        self.common_entries = common_entries
        self.word_counts = WordCounts()


class SqliteKeywordIndex(_CommonWordsCut):
    # bm25() weights, in the FTS table's column order (title, body, tags): a word in
    # the title says more than one in the body.
    TITLE_WEIGHT, BODY_WEIGHT, TAGS_WEIGHT = 3.0, 1.0, 2.0

    def search(self, connection: Connection, query: str, limit: int) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        quoted = [f'"{term}"' for term in terms]  # so that no word is read as an operator
        words, how = match_terms(
            connection,
            quoted,
            f"SELECT 1 FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :term",
            self.common_entries,
            self.word_counts,
        )
        rows = connection.execute(
            text(
                f"SELECT rowid, bm25({FTS_TABLE}, "
                f"{self.TITLE_WEIGHT}, {self.BODY_WEIGHT}, {self.TAGS_WEIGHT}) AS score "
                f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :match ORDER BY score LIMIT :limit"
            ),
            {"match": f" {how.upper()} ".join(words), "limit": limit},
        )
        return [(int(entry_id), -float(score)) for entry_id, score in rows.all()]


class PostgresKeywordIndex(_CommonWordsCut):
    """A stored generated tsvector column (always current) with a GIN index."""

    CONFIG, COLUMN = TEXT_SEARCH_CONFIG, VECTOR_COLUMN  # queries stem as the column does
    # ts_rank_cd weights in the order {D, C, B, A}: title A 3, tags B 2, body D 1 (as bm25).
    WEIGHTS = "{0.3333, 0.0, 0.6667, 1.0}"
    NORMALIZATION = 1  # divide by 1 + log(length), as bm25 discounts long entries

    def search(self, connection: Connection, query: str, limit: int) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        quoted = [f"'{term}'" for term in terms]  # so that no word is read as an operator
        to_tsquery = f"to_tsquery('{self.CONFIG}'::regconfig, :term)"
        words, how = match_terms(
            connection,
            quoted,
            f"SELECT 1 FROM entries WHERE {self.COLUMN} @@ {to_tsquery}",
            self.common_entries,
            self.word_counts,
        )
        rows = connection.execute(
            text(
                f"SELECT id, ts_rank_cd('{self.WEIGHTS}'::float4[], {self.COLUMN}, query, "
                f"{self.NORMALIZATION}) AS score "
                f"FROM entries, {to_tsquery.replace(':term', ':match')} AS query "
                f"WHERE {self.COLUMN} @@ query ORDER BY score DESC, id LIMIT :limit"
            ),
            {"match": (" | " if how == "or" else " & ").join(words), "limit": limit},
        )
        return [(int(entry_id), float(score)) for entry_id, score in rows.all()]


def keyword_index_for(
    database: "Database", common_entries: int = DEFAULT_COMMON_ENTRIES
) -> KeywordIndex:
    dialect = database.engine.dialect.name
    if dialect == "sqlite":
        return SqliteKeywordIndex(common_entries)
    if dialect == "postgresql":
        return PostgresKeywordIndex(common_entries)
    raise NotImplementedError(
        f"keyword search on {dialect} is not supported: use SQLite or PostgreSQL"
    )
