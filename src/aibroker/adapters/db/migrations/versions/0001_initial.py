"""Initial schema: brokers, assignments, conversations, reply ledger, events, webhook receipts, built-in inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ai_brokers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("persona_type", sa.String(32), nullable=False, index=True),
        sa.Column("is_available", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("current_workload", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_concurrent_chats", sa.Integer, nullable=False, server_default="10"),
        sa.Column("last_active", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("current_workload >= 0", name="ck_broker_workload_non_negative"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("inbox", sa.String(32), nullable=False),
        sa.Column("inbox_conversation_id", sa.String(64), nullable=False),
        sa.Column("inbox_contact_id", sa.String(64), nullable=False, index=True),
        sa.Column("loan_type", sa.String(32), nullable=False),
        sa.Column("lead", sa.JSON, nullable=False),
        sa.Column("lead_score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("persona_name", sa.String(120), nullable=False),
        sa.Column("broker_id", sa.Integer, sa.ForeignKey("ai_brokers.id"), nullable=True),
        sa.Column("owner", sa.String(16), nullable=False, server_default="bot"),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.UniqueConstraint("inbox", "inbox_conversation_id", name="uq_conversation_inbox_id"),
    )
    op.create_table(
        "broker_conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("broker_id", sa.Integer, sa.ForeignKey("ai_brokers.id"), nullable=True, index=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False,
                  unique=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active", index=True),
        sa.Column("lead_score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("loan_type", sa.String(32), nullable=True),
        sa.Column("property_type", sa.String(32), nullable=True),
        sa.Column("monthly_income", sa.Float, nullable=True),
        sa.Column("timeline", sa.String(32), nullable=True),
        sa.Column("message_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("handoff", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("handoff_reason", sa.String(64), nullable=True),
        sa.Column("handoff_at", TS, nullable=True),
        sa.Column("released_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "reply_ledger",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("conversations.id"), nullable=False, index=True),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="claimed"),
        sa.Column("claim_token", sa.String(64), nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("sent_message_id", sa.String(64), nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("note", sa.String(200), nullable=True),
        sa.UniqueConstraint("conversation_id", "key", name="uq_reply_ledger_key"),
    )
    op.create_table(
        "chat_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, nullable=True, index=True),
        sa.Column("type", sa.String(64), nullable=False, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
    )
    op.create_table(
        "webhook_receipts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.UniqueConstraint("source", "event", "external_id", name="uq_webhook_receipt"),
    )
    op.create_table(
        "inbox_contacts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=True, unique=True),
        sa.Column("phone", sa.String(32), nullable=True, index=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "inbox_conversations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("inbox_contacts.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("typing", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conversation_id", sa.Integer, sa.ForeignKey("inbox_conversations.id"), nullable=False,
                  index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("private", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("activity", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("source_id", sa.String(128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("conversation_id", "source_id", name="uq_inbox_message_source"),
    )


def downgrade() -> None:
    for table in ("inbox_messages", "inbox_conversations", "inbox_contacts", "webhook_receipts", "chat_events",
                  "reply_ledger", "broker_conversations", "conversations", "ai_brokers"):
        op.drop_table(table)
