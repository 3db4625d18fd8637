"""Engine, sessions and schema creation. The database is the source of truth."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from kb.models import Base, IndexState
from kb.settings import Settings


class SchemaOutdated(RuntimeError):
    """The database's tables are older than this kb's model."""


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
        self.engine: Engine = create_engine(url, connect_args=connect_args)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Database":
        if settings.database_url is None:
            settings.ensure_home()
        return cls(settings.resolved_database_url)

    def create_schema(self) -> None:
        from search.keyword import keyword_index_for

        Base.metadata.create_all(self.engine)
        self.check_schema()
        with self.engine.begin() as connection:
            keyword_index_for(self).install(connection)
        with self.session() as session:
            if session.get(IndexState, 1) is None:
                session.add(IndexState(id=1, generation=0))
                session.commit()

    def check_schema(self) -> None:
        """Refuse a database made by an older kb whose tables lack columns we need."""
        inspector = inspect(self.engine)
        missing = [
            f"{table.name}.{column.name}"
            for table in Base.metadata.sorted_tables
            for column in table.columns
            if column.name not in {c["name"] for c in inspector.get_columns(table.name)}
        ]
        if missing:
            raise SchemaOutdated(
                f"the database {self.engine.url.render_as_string(hide_password=True)} was made "
                f"by an older kb and lacks {', '.join(missing)}. kb cannot upgrade it in place "
                "yet: back it up, then start from an empty KB_HOME (or database) and import "
                "your corpus again."
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
