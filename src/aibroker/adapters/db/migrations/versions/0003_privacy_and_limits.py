"""Private conversations (access-token hash), consent, e-mail lookup for erasure, idle slot release.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        # SHA-256 of the conversation's access token: the token itself is never stored. Conversations made
        # before this migration have none, so only the admin token opens them.
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
        # SHA-256 of the lower-cased e-mail: finds a person's conversations for erasure (PDPA) in every
        # inbox, Chatwoot included, without keeping another copy of the address.
        batch.add_column(sa.Column("email_hash", sa.String(64), nullable=True))
        # When the lead ticked the consent box of the form's privacy notice.
        batch.add_column(sa.Column("consent_at", TS, nullable=True))
        batch.create_index("ix_conversations_email_hash", ["email_hash"])
        batch.create_index("ix_conversations_last_activity_at", ["last_activity_at"])
    with op.batch_alter_table("broker_conversations") as batch:
        # Why a slot was given back without a handoff: "resolved", "idle" (no customer message for
        # ASSIGNMENT_IDLE_MINUTES; the slot is taken again when the customer returns), "erased".
        batch.add_column(sa.Column("release_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broker_conversations") as batch:
        batch.drop_column("release_reason")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_last_activity_at")
        batch.drop_index("ix_conversations_email_hash")
        batch.drop_column("consent_at")
        batch.drop_column("email_hash")
        batch.drop_column("token_hash")
