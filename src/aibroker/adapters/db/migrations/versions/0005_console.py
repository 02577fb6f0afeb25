"""The broker console (issue #12): agent accounts; when a customer started waiting for a human, and handoff counts.

Revision ID: 0005_console
Revises: 0004_rollout
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_console"
down_revision = "0004_rollout"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),  # lower-cased by the code
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_login_at", TS, nullable=True),
    )
    with op.batch_alter_table("conversations") as batch:
        # Since when the customer has been waiting for a human (set at handoff and by a customer message to
        # humans; cleared by a human's reply, a hand-back or resolution). NULL: nobody is waiting for a human.
        batch.add_column(sa.Column("waiting_since", TS, nullable=True))
        batch.add_column(sa.Column("human_replied_at", TS, nullable=True))
        # Incremented by the one caller that moves the conversation from the bot to humans: names the handoff
        # (the Slack notice is sent once per handoff, by that caller only).
        batch.add_column(sa.Column("handoff_count", sa.Integer, nullable=False, server_default="0"))
        batch.create_index("ix_conversations_waiting_since", ["waiting_since"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_waiting_since")
        batch.drop_column("handoff_count")
        batch.drop_column("human_replied_at")
        batch.drop_column("waiting_since")
    op.drop_table("agents")
