"""The search log remembers the entry a search led to that was marked reused or helpful.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A batch copy on SQLite (it cannot add a foreign key to a table in place); nothing
# refers to search_log, so copying it is safe. PostgreSQL alters the table in place.
def upgrade() -> None:
    with op.batch_alter_table("search_log") as batch:
        batch.add_column(sa.Column("answered_entry_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_search_log_answered_entry_id_entries",
            "entries",
            ["answered_entry_id"],
            ["id"],
            ondelete="SET NULL",
        )


# Dropping the column drops its foreign key with it (PostgreSQL; SQLite's batch copy).
def downgrade() -> None:
    with op.batch_alter_table("search_log") as batch:
        batch.drop_column("answered_entry_id")
