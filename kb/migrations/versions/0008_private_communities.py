"""Members-only communities: a community is open (everyone may read it) or private.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 22:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, also on SQLite (3.35 and later drop columns): a batch copy of the
# table would have to drop `communities`, which the entries' foreign keys refuse.
def upgrade() -> None:
    op.add_column(
        "communities",
        sa.Column("private", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("communities", "private")
