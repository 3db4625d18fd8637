"""The search log remembers when an Ask draft was answered by a past case.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("search_log", sa.Column("answered_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("search_log", "answered_at")
