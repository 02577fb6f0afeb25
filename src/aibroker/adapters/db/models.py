"""Tables. Names of the broker tables follow the design documents (`ai_brokers`, `broker_conversations`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out, on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON, datetime: UTCDateTime()}


class Broker(Base):
    __tablename__ = "ai_brokers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    persona_type: Mapped[str] = mapped_column(String(32), index=True)
    is_available: Mapped[bool] = mapped_column(Boolean, default=True)
    current_workload: Mapped[int] = mapped_column(Integer, default=0)
    max_concurrent_chats: Mapped[int] = mapped_column(Integer, default=10)
    last_active: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """Our record of a conversation, whichever inbox holds its messages."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("inbox", "inbox_conversation_id", name="uq_conversation_inbox_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox: Mapped[str] = mapped_column(String(32))
    inbox_conversation_id: Mapped[str] = mapped_column(String(64))
    inbox_contact_id: Mapped[str] = mapped_column(String(64), index=True)
    loan_type: Mapped[str] = mapped_column(String(32))
    lead: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lead_score: Mapped[int] = mapped_column(Integer, default=0)
    persona_name: Mapped[str] = mapped_column(String(120))
    broker_id: Mapped[int | None] = mapped_column(ForeignKey("ai_brokers.id"), nullable=True)
    owner: Mapped[str] = mapped_column(String(16), default="bot")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # SHA-256 of the conversation's access token (the token is never stored); None: admin access only.
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # SHA-256 of the lower-cased e-mail, to find a person's conversations for erasure in any inbox.
    email_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    consent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # aibroker | legacy, decided once when the conversation is opened or adopted (domain/rollout.py).
    route: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    # The console (issue #12): since when the customer has waited for a human (None: nobody waits), when a human
    # last replied, and how many times the conversation went from the bot to humans (names each handoff).
    waiting_since: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    human_replied_at: Mapped[datetime | None] = mapped_column(nullable=True)
    handoff_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A smoke-test conversation (`aibroker smoke`): left out of analytics.
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class BrokerAssignment(Base):
    __tablename__ = "broker_conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broker_id: Mapped[int | None] = mapped_column(ForeignKey("ai_brokers.id"), nullable=True, index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)  # active|waiting|released
    lead_score: Mapped[int] = mapped_column(Integer, default=0)
    loan_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    property_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    monthly_income: Mapped[float | None] = mapped_column(nullable=True)
    timeline: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    handoff_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    handoff_at: Mapped[datetime | None] = mapped_column(nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    release_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # resolved|idle|erased
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReplyLedgerEntry(Base):
    """One row per answered customer message (key `message:<inbox id>`) or greeting (`greeting`).

    Claimed before generating, marked sent with the inbox's message id: the row is what makes
    at-least-once job delivery produce exactly one visible reply.
    """

    __tablename__ = "reply_ledger"
    __table_args__ = (UniqueConstraint("conversation_id", "key", name="uq_reply_ledger_key"),
                      Index("ix_reply_ledger_window", "completed_at", "conversation_id", "state", "note", "key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="claimed")  # claimed|sent|skipped
    claim_token: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    sent_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reply_key: Mapped[str | None] = mapped_column(String(128), nullable=True)  # burst leader's key


class InboundMessage(Base):
    """An accepted customer message, recorded before it is queued (the sweeper re-queues lost ones)."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "message_id", name="uq_inbound_message"),
                      Index("ix_inbound_messages_arrival", "conversation_id", "message_id", "received_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    queued_at: Mapped[datetime | None] = mapped_column(nullable=True)


class MessageHistory(Base):
    """Our copy of an inbox conversation's messages, for inboxes whose API cannot list them."""

    __tablename__ = "message_history"
    __table_args__ = (UniqueConstraint("inbox", "conversation_id", "message_id", name="uq_message_history"),
                      Index("ix_message_history_conversation", "inbox", "conversation_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    source_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatEvent(Base):
    """Analytics mirror of the realtime event stream."""

    __tablename__ = "chat_events"
    __table_args__ = (Index("ix_chat_events_type_created_at", "type", "created_at"),
                      Index("ix_chat_events_conversation_type", "conversation_id", "type", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookReceipt(Base):
    """Deduplicates webhook deliveries across processes and restarts (not in memory)."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("source", "event", "external_id", name="uq_webhook_receipt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- the built-in inbox (used when no Chatwoot is configured) ---------------------------------------


class InboxContact(Base):
    __tablename__ = "inbox_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboxConversation(Base):
    __tablename__ = "inbox_conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("inbox_contacts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboxMessage(Base):
    __tablename__ = "inbox_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "source_id", name="uq_inbox_message_source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("inbox_conversations.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    activity: Mapped[bool] = mapped_column(Boolean, default=False)
    source_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Agent(Base):
    """A person who signs in to the console (issue #12). Removing an agent deletes the row, so a session cookie
    naming its id stops working at once, and adding the address again makes a new account."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)
