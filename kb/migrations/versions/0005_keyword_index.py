"""The keyword index in the migrations: SQLite's FTS5 table and its triggers, PostgreSQL's
generated tsvector column and its GIN index (kb/keyword_schema.py).

Before this revision kb made the same objects outside Alembic, at every start: a
database that has them keeps them (IF NOT EXISTS), and its keyword data.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# This revision's own copy, as 0001 has its own copy of the tables: kb/keyword_schema.py
# may change later, what this revision made may not.
SQLITE = (
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
    # A new FTS table starts empty; one kb made before is read again all the same.
    "INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')",
)

POSTGRES = (
    """ALTER TABLE entries ADD COLUMN IF NOT EXISTS search_vector tsvector
    GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(tags::text, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'D')
    ) STORED""",
    "CREATE INDEX IF NOT EXISTS ix_entries_search_vector ON entries USING GIN (search_vector)",
)


def upgrade() -> None:
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("entries_fts_insert", "entries_fts_delete", "entries_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS entries_fts")  # and FTS5's own tables with it
    else:
        op.execute("DROP INDEX IF EXISTS ix_entries_search_vector")
        op.execute("ALTER TABLE entries DROP COLUMN IF EXISTS search_vector")
