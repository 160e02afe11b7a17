"""create orders

Revision ID: 9a7b3c2d1e0f
Revises: 1f0c5a8e2b7d
Create Date: 2024-05-06 11:15:00.000000

Written on another branch at the same time as 6d2e9b4c1a30 (add users.email): both revise
1f0c5a8e2b7d, and c4e8f1a2b3d5 merges them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "9a7b3c2d1e0f"
down_revision: str | Sequence[str] | None = "1f0c5a8e2b7d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("orders")
