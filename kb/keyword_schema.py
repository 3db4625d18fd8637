"""The keyword index's schema: what keyword search reads, kept current by the database.

SQLite: an FTS5 table over the entries' title, body and tags (external content: it
stores the index, not a copy of the text), kept current by triggers on entries.
PostgreSQL: a stored generated tsvector column on entries, weighted title A, tags B,
body D, with a GIN index.

search/keyword.py queries these objects; this module makes, checks and rebuilds them.
Database.create_schema makes them from here for a new database. Migration 0005 makes
them with its own copy of these statements, as 0001 has its own copy of the models'
tables: a migration must go on making what it made. tests/test_database.py checks
that both ways make the same objects, so a change here needs a new migration.
"""

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

FTS_TABLE = "entries_fts"
FTS_TRIGGERS = ("entries_fts_insert", "entries_fts_delete", "entries_fts_update")
TEXT_SEARCH_CONFIG = "english"  # stemming like FTS5's porter tokenizer
VECTOR_COLUMN = "search_vector"
VECTOR_INDEX = "ix_entries_search_vector"

# Not in the models, so Alembic's autogenerate must leave them be (kb/migrate.py).
# Prefixes: FTS5 keeps the index in tables of its own, entries_fts_data and others.
OBJECT_NAMES = (FTS_TABLE, VECTOR_COLUMN, VECTOR_INDEX)

_SQLITE = (
    # Column order matters: search/keyword.py weighs bm25() by it (title, body, tags).
    f"""CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(
        title, body, tags, content='entries', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER IF NOT EXISTS entries_fts_insert AFTER INSERT ON entries BEGIN
        INSERT INTO {FTS_TABLE}(rowid, title, body, tags)
        VALUES (new.id, new.title, new.body, new.tags);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS entries_fts_delete AFTER DELETE ON entries BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body, tags)
        VALUES ('delete', old.id, old.title, old.body, old.tags);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS entries_fts_update
        AFTER UPDATE OF title, body, tags ON entries BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, body, tags)
        VALUES ('delete', old.id, old.title, old.body, old.tags);
        INSERT INTO {FTS_TABLE}(rowid, title, body, tags)
        VALUES (new.id, new.title, new.body, new.tags);
    END""",
)

_POSTGRES = (
    f"""ALTER TABLE entries ADD COLUMN IF NOT EXISTS {VECTOR_COLUMN} tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, coalesce(tags::text, '')), 'B')
        || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, coalesce(body, '')), 'D')
    ) STORED""",
    f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} ON entries USING GIN ({VECTOR_COLUMN})",
)


def create(connection: Connection) -> None:
    """Make whatever of the keyword index is missing. On SQLite a new FTS table starts
    empty: `rebuild` fills it from the entries."""
    for statement in _statements(connection):
        connection.exec_driver_sql(statement)


def rebuild(connection: Connection) -> None:
    """Make what is missing and index every entry again (`kb doctor --fix`, and after
    `kb db upgrade`, whose migrations may have rebuilt the entries table under it)."""
    create(connection)
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
    else:
        connection.exec_driver_sql(f"REINDEX INDEX {VECTOR_INDEX}")


def problems(connection: Connection) -> list[str]:
    """What is missing or out of date (for `kb doctor`); empty when all is well."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return _sqlite_problems(connection)
    if dialect == "postgresql":
        return _postgres_problems(connection)
    raise _unsupported(dialect)


def _sqlite_problems(connection: Connection) -> list[str]:
    names = set(
        connection.scalars(text(f"SELECT name FROM sqlite_master WHERE name LIKE '{FTS_TABLE}%'"))
    )
    missing = [name for name in (FTS_TABLE, *FTS_TRIGGERS) if name not in names]
    if missing:
        return [f"the keyword index lacks {', '.join(missing)}"]
    try:
        # rank 1: compare the index with the entries table, not only with itself.
        connection.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
        )
    except DBAPIError as error:
        return [f"the keyword index is out of date with the entries ({error.orig})"]
    return []


def _postgres_problems(connection: Connection) -> list[str]:
    inspector = inspect(connection)
    found: list[str] = []
    if VECTOR_COLUMN not in {column["name"] for column in inspector.get_columns("entries")}:
        found.append(f"the keyword index lacks the column entries.{VECTOR_COLUMN}")
    if VECTOR_INDEX not in {index["name"] for index in inspector.get_indexes("entries")}:
        found.append(f"the keyword index lacks the GIN index {VECTOR_INDEX}")
    return found


def _statements(connection: Connection) -> tuple[str, ...]:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return _SQLITE
    if dialect == "postgresql":
        return _POSTGRES
    raise _unsupported(dialect)


def _unsupported(dialect: str) -> NotImplementedError:
    return NotImplementedError(
        f"keyword search on {dialect} is not supported: use SQLite or PostgreSQL"
    )
