"""The built-in inbox's typing indicator lives in Redis (with an expiry), not in `inbox_conversations` (issue #15:
two database writes less per reply, and an indicator a dead worker left on goes off by itself).

Revision ID: 0007_typing_in_redis
Revises: 0006_ops
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_typing_in_redis"
down_revision = "0006_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_conversations") as batch:
        batch.drop_column("typing")


def downgrade() -> None:
    with op.batch_alter_table("inbox_conversations") as batch:
        batch.add_column(sa.Column("typing", sa.Boolean, nullable=False, server_default=sa.false()))
