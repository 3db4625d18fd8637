"""Alembic environment for kb: runs on the connection kb.migrate hands over.

kb never reads an alembic.ini: `kb db upgrade` (kb/migrate.py) builds the
configuration and passes an open connection in `config.attributes["connection"]`.
"""

from alembic import context

from kb.migrate import include_object
from kb.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `kb db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    # SQLite alters tables by copying them; "batch" operations do that for us.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
