"""Conversation vocabulary shared by every layer: who owns a conversation and who said what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field


class Owner(StrEnum):
    BOT = "bot"
    HUMAN = "human"


class ConversationStatus(StrEnum):
    """Chatwoot's statuses, mirrored by the built-in inbox: the bot owns `pending`, humans own `open`."""

    PENDING = "pending"
    OPEN = "open"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"


class Role(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    HUMAN = "human"
    SYSTEM = "system"


class ChatMessage(BaseModel):
    """One message as an inbox holds it. `id` is the inbox's own message id, as a string."""

    id: str
    role: Role
    content: str
    created_at: datetime
    private: bool = False
    source_id: str | None = Field(default=None, description="our tag on messages we sent (echo detection)")


class ContactInfo(BaseModel):
    name: str
    email: str | None = None
    phone: str | None = None


class ConversationRecord(BaseModel):
    """Our record of a conversation (the inbox keeps the messages)."""

    id: int
    inbox: str
    inbox_conversation_id: str
    inbox_contact_id: str
    loan_type: str
    lead: dict[str, object]
    lead_score: int
    persona_name: str
    broker_id: int | None
    owner: Owner
    status: ConversationStatus
    created_at: datetime
    last_activity_at: datetime
    # SHA-256 of the customer's access token (domain/privacy.py); None for conversations from before tokens,
    # which only the admin token opens.
    token_hash: str | None = Field(default=None, repr=False)
    route: str | None = None  # aibroker | legacy (domain/rollout.py); None: from before routing, aibroker's
    # Since when the customer has waited for a human (None: nobody waits); reset by a human's reply.
    waiting_since: datetime | None = None
    human_replied_at: datetime | None = None
    handoff_count: int = 0  # how many times the bot handed it to humans: names each handoff


@dataclass(frozen=True, slots=True)
class HistoryCopy:
    """Our copy of an inbox message (`MessageHistoryStore`), to be kept with the row that accepts it."""

    inbox: str
    inbox_conversation_id: str
    message: ChatMessage


# A conversation's last activity is kept to this resolution: a reply within it of the activity last recorded does not
# write it again (one write less per reply in a lively chat). What reads it does not need finer: the console's order,
# and windows of days (a lead's conversation reused, retention).
ACTIVITY_RESOLUTION = timedelta(minutes=1)


def as_utc(moment: datetime) -> datetime:
    """A timestamp with no zone is UTC: inboxes (and SQLite) differ in whether they say so."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def activity_outdated(record: ConversationRecord, now: datetime) -> bool:
    """Whether a reply sent `now` should record itself as the conversation's latest activity."""
    return now - as_utc(record.last_activity_at) >= ACTIVITY_RESOLUTION


@dataclass(frozen=True, slots=True)
class InboundState:
    """One accepted customer message, as a paced reply sees it."""

    received_at: datetime | None  # when we accepted it (None: not recorded)
    answered: bool  # its ledger row is finished


@dataclass(frozen=True, slots=True)
class JobConversation:
    """A reply job's conversation with what its reply asks first, read together (one query)."""

    record: ConversationRecord
    greeted: bool  # its greeting is finished
    idle_released: bool  # its broker slot was given back for idleness (and not taken again since)
    inbound: InboundState | None = None  # the job's customer message (asked for a message's job)


class BrokerRecord(BaseModel):
    id: int
    name: str
    title: str
    persona_type: str
    is_available: bool
    current_workload: int
    max_concurrent_chats: int
    last_active: datetime | None = None
