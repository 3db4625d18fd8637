"""Schema versions: Alembic migrations in kb/migrations, applied by `kb db upgrade`.

A new, empty database is created from the models and stamped with the newest
revision; a database at an older revision is refused until `kb db upgrade`.
"""

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from kb import keyword_schema

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """What Alembic's autogenerate compares with the models: everything but the keyword
    index, which the models do not describe (kb/keyword_schema.py does)."""
    return not (name or "").startswith(keyword_schema.OBJECT_NAMES)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "kb/migrations has no revisions"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def known_revisions() -> set[str]:
    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def stamp_head(connection: Connection) -> None:
    command.stamp(alembic_config(connection), "head")


def upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
