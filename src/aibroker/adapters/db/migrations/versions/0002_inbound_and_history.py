"""Inbound-message outbox, batch leader on the reply ledger, message history for bot-token inboxes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Every accepted customer message, written before it is queued: if Redis loses the job (restart
    # without persistence, enqueue failure), the worker's sweeper queues it again.
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("received_at", TS, nullable=False, index=True),
        sa.Column("queued_at", TS, nullable=True),
        sa.UniqueConstraint("conversation_id", "message_id", name="uq_inbound_message"),
    )
    # Several customer messages answered by one reply (a burst) share the leader's key, so a retry of
    # any of them finds the one tagged reply.
    with op.batch_alter_table("reply_ledger") as batch:
        batch.add_column(sa.Column("reply_key", sa.String(128), nullable=True))
    # Our copy of messages of inboxes we cannot read back (Chatwoot agent-bot tokens cannot list messages).
    op.create_table(
        "message_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("inbox", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("source_id", sa.String(128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("inbox", "conversation_id", "message_id", name="uq_message_history"),
        sa.Index("ix_message_history_conversation", "inbox", "conversation_id"),
    )


def downgrade() -> None:
    op.drop_table("message_history")
    with op.batch_alter_table("reply_ledger") as batch:
        batch.drop_column("reply_key")
    op.drop_table("inbound_messages")
