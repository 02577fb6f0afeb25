"""Tables of the n8n migration (issue #11): run-time switches and their audit, legacy forwards, shadow replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aibroker.adapters.db.models import Base, utcnow


class RolloutStateRow(Base):
    """One row (id 1) once an operator changed a switch at run time; absent: the environment's values rule."""

    __tablename__ = "rollout_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enable_ai_broker: Mapped[bool] = mapped_column(Boolean)
    enable_bullmq_broker: Mapped[bool] = mapped_column(Boolean)
    rollout_percentage: Mapped[int] = mapped_column(Integer)
    shadow_mode: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))


class RolloutAudit(Base):
    __tablename__ = "rollout_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> [before, after]


class LegacyForward(Base):
    """A customer message of a legacy conversation, recorded before its forward job is queued: the row makes a
    redelivered webhook forward nothing new, and lets the sweeper queue a forward Redis lost."""

    __tablename__ = "legacy_forwards"
    __table_args__ = (UniqueConstraint("conversation_id", "message_id", name="uq_legacy_forward"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the body n8n receives
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    forwarded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ShadowReply(Base):
    """What aibroker would have answered to a legacy conversation's message (never sent), and the legacy reply
    that followed it in the inbox, for comparison."""

    __tablename__ = "shadow_replies"
    __table_args__ = (UniqueConstraint("conversation_id", "message_id", name="uq_shadow_reply"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(64))
    reply: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[int] = mapped_column(Integer)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    legacy_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    legacy_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    legacy_at: Mapped[datetime | None] = mapped_column(nullable=True)
