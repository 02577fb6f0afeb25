"""The n8n migration (issue #11): route per conversation, run-time switches + audit, legacy forwards, shadow replies.

Revision ID: 0004_rollout
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_rollout"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


# Forwards and shadow replies belong to their conversation: erasing or purging it removes them (they hold the
# customer's words and the sender's contact details as the webhook carried them).


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        # aibroker | legacy, decided once per conversation. Conversations from before routing (NULL) were
        # all answered by aibroker and stay so.
        batch.add_column(sa.Column("route", sa.String(16), nullable=True))
        batch.create_index("ix_conversations_route", ["route"])
    op.create_table(
        "rollout_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("enable_ai_broker", sa.Boolean, nullable=False),
        sa.Column("enable_bullmq_broker", sa.Boolean, nullable=False),
        sa.Column("rollout_percentage", sa.Integer, nullable=False),
        sa.Column("shadow_mode", sa.Boolean, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )
    op.create_table(
        "rollout_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("changed_at", TS, nullable=False, index=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_table(
        "legacy_forwards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("received_at", TS, nullable=False, index=True),
        sa.Column("forwarded_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.UniqueConstraint("conversation_id", "message_id", name="uq_legacy_forward"),
    )
    op.create_table(
        "shadow_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("handoff_reason", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.Column("legacy_message_id", sa.String(64), nullable=True),
        sa.Column("legacy_reply", sa.Text, nullable=True),
        sa.Column("legacy_at", TS, nullable=True),
        sa.UniqueConstraint("conversation_id", "message_id", name="uq_shadow_reply"),
    )


def downgrade() -> None:
    op.drop_table("shadow_replies")
    op.drop_table("legacy_forwards")
    op.drop_table("rollout_audit")
    op.drop_table("rollout_state")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_route")
        batch.drop_column("route")
