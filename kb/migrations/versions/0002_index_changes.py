"""The index change log: which entries' vectors changed at which generation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 01:55:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "index_changes",
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("generation", "entry_id"),
    )


def downgrade() -> None:
    op.drop_table("index_changes")
