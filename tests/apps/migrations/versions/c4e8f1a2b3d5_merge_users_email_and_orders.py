"""merge users.email and orders

Revision ID: c4e8f1a2b3d5
Revises: 6d2e9b4c1a30, 9a7b3c2d1e0f
Create Date: 2024-05-07 08:00:00.000000

"""

from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "c4e8f1a2b3d5"
down_revision: str | Sequence[str] | None = ("6d2e9b4c1a30", "9a7b3c2d1e0f")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
