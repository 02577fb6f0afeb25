"""Operating it (issue #13): smoke-test conversations kept out of analytics; indexes for the analytics queries.

Revision ID: 0006_ops
Revises: 0004_rollout
Create Date: 2026-12-03

(The console work adds 0005_console on the same parent; at merge this one is re-chained onto it.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_ops"
down_revision = "0004_rollout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        # Set by `aibroker smoke` through the admin API: its test lead must not move the rollout's numbers.
        batch.add_column(sa.Column("is_test", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_index("ix_conversations_created_at", ["created_at"])
    # Analytics read a window of finished replies, a window of events of one type, and a conversation's later
    # events of one type (the human's first answer after a handoff).
    op.create_index("ix_reply_ledger_completed_at", "reply_ledger", ["completed_at"])
    op.create_index("ix_chat_events_type_created_at", "chat_events", ["type", "created_at"])
    op.create_index("ix_chat_events_conversation_type", "chat_events", ["conversation_id", "type", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_chat_events_conversation_type", table_name="chat_events")
    op.drop_index("ix_chat_events_type_created_at", table_name="chat_events")
    op.drop_index("ix_reply_ledger_completed_at", table_name="reply_ledger")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_created_at")
        batch.drop_column("is_test")
