"""Failed sign-ins in the database, so that the throttle counts them across processes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handle", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=100), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_sign_in_failures_who", "sign_in_failures", ["handle", "address", "failed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_sign_in_failures_who", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
