"""A session generation per person, so that signing out ends a session for good.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 04:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Session cookies made before this carry no generation: everyone signs in once more.
    op.add_column(
        "people",
        sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("people", "session_generation")
