"""Engine, sessions and schema creation. The database is the source of truth."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from kb import keyword_schema
from kb.announcements import Subscribers
from kb.models import Base, IndexState
from kb.settings import Settings
from kb.writes import SUBSCRIBERS

# pg_advisory_xact_lock key held while the schema is created or upgraded ("kb" in ASCII).
SCHEMA_LOCK = 0x6B62


class SchemaOutdated(RuntimeError):
    """The database's schema is older (or newer) than this kb's: the message says what to do."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            # Sessions are used from FastAPI's thread pool; SQLite allows that
            # as long as one connection is not shared by two threads at once.
            connect_args["check_same_thread"] = False
            connect_args["timeout"] = 30
        # Every thread of the web app's pool may hold a connection at once. A connection
        # closed for being over the pool's size would take its warm page cache with it.
        pool_size = 50 if self.is_sqlite else 10
        self.engine: Engine = create_engine(
            url, connect_args=connect_args, pool_size=pool_size, max_overflow=pool_size
        )
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # Side effects of writes (indexing, notifications) subscribe here; every session
        # made by this database delivers its writes' announcements to them.
        self.subscribers = Subscribers()
        self.sessionmaker = sessionmaker(
            self.engine, expire_on_commit=False, info={SUBSCRIBERS: self.subscribers}
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        if settings.database_url is None:
            settings.ensure_home()
        return cls(settings.resolved_database_url)

    def create_schema(self) -> None:
        """Make a new, empty database ready; check an existing one is at the newest revision.

        An empty database gets the tables of the models and the keyword index, and is
        stamped with the newest migration. A database at an older revision raises
        SchemaOutdated: `kb db upgrade`.
        """
        from kb import migrate

        with self.engine.begin() as connection:
            self._lock_schema(connection)
            tables = set(inspect(connection).get_table_names())
            revision = migrate.current_revision(connection)
            if revision is None and not tables & set(Base.metadata.tables):
                Base.metadata.create_all(connection)
                keyword_schema.create(connection)
                migrate.stamp_head(connection)
            elif revision is None:
                self._adopt(connection)
            elif revision != migrate.head_revision():
                raise SchemaOutdated(self._outdated_message(revision))
        self._add_index_state()

    def upgrade_schema(self) -> tuple[str | None, str]:
        """`kb db upgrade`: apply every pending migration. Returns (before, after)."""
        from kb import migrate

        with self.engine.begin() as connection:
            self._lock_schema(connection)
            before = migrate.current_revision(connection)
            tables = set(inspect(connection).get_table_names())
            if before is None and tables & set(Base.metadata.tables):
                self._adopt(connection)
            else:
                migrate.upgrade(connection)
                if migrate.current_revision(connection) != before:
                    # A migration may have rebuilt the entries table under the keyword
                    # index (on SQLite, the table's triggers go with it).
                    keyword_schema.rebuild(connection)
            after = migrate.current_revision(connection)
        self._add_index_state()
        assert after is not None
        return before, after

    def _adopt(self, connection: Connection) -> None:
        """A database made before kb had migrations: adopted if it has every column we
        need, and stamped with the newest revision."""
        from kb import migrate

        Base.metadata.create_all(connection)
        self.check_schema(connection)
        keyword_schema.rebuild(connection)
        migrate.stamp_head(connection)

    def _add_index_state(self) -> None:
        with self.session() as session:
            if session.get(IndexState, 1) is None:
                session.add(IndexState(id=1, generation=0))
                session.commit()

    def _lock_schema(self, connection: Connection) -> None:
        """Several workers start at once: one at a time creates or changes the schema."""
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})

    def _outdated_message(self, revision: str) -> str:
        from kb import migrate

        where = self.engine.url.render_as_string(hide_password=True)
        if revision not in migrate.known_revisions():
            return (
                f"the database {where} is at schema revision {revision}, which this kb does "
                f"not know (it knows up to {migrate.head_revision()}): it was made by a newer "
                "kb. Run that kb, or restore a backup made for this one."
            )
        return (
            f"the database {where} is at schema revision {revision}; this kb needs "
            f"{migrate.head_revision()}. Back it up, then run `kb db upgrade`."
        )

    def check_schema(self, connection: Connection | None = None) -> None:
        """Refuse a database made by an older kb whose tables lack columns we need."""
        inspector = inspect(connection if connection is not None else self.engine)
        missing = [
            f"{table.name}.{column.name}"
            for table in Base.metadata.sorted_tables
            for column in table.columns
            if column.name not in {c["name"] for c in inspector.get_columns(table.name)}
        ]
        if missing:
            raise SchemaOutdated(
                f"the database {self.engine.url.render_as_string(hide_password=True)} was made "
                f"by an older kb, before it had migrations, and lacks {', '.join(missing)}. "
                "`kb db upgrade` cannot upgrade it: back it up, then start from an empty "
                "KB_HOME (or database) and import your corpus again."
            )

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessionmaker() as session:
            yield session

    def index_generation(self) -> int:
        with self.session() as session:
            return session.scalar(select(IndexState.generation).where(IndexState.id == 1)) or 0

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
