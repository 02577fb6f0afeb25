"""The broker console's vocabulary (issue #12): agents, the list's order, the reply-SLA countdown. Pure: no I/O.

The console lists open conversations, those waiting for a human first (longest wait first), then the ones humans
hold, then the bot's (most recently active first); each bot-owned one shows how long its oldest unanswered customer
message has waited against the reply target (REPLY_SLA_MS, 5 s by default).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from aibroker.domain.conversation import ChatMessage, ConversationRecord, ConversationStatus, Owner
from aibroker.domain.leads import LeadForm

# The SLA event's "warning" comes this far before the target (issue #12: warning at 4 s of a 5 s target).
SLA_WARNING_FRACTION = 0.8
MAX_AGENT_NAME = 120
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Action(StrEnum):
    TAKE_OVER = "takeover"
    REPLY = "reply"
    HAND_BACK = "handback"
    RESOLVE = "resolve"


def normalize_email(email: str) -> str:
    """Agents sign in by e-mail in any letter case: one account per address."""
    normalized = email.strip().lower()
    if len(normalized) > 320 or not _EMAIL.match(normalized):
        raise ValueError("not an e-mail address")
    return normalized


class AgentRecord(BaseModel):
    id: int
    email: str
    name: str
    is_admin: bool
    created_at: datetime


class SlaState(StrEnum):
    OK = "ok"
    WARNING = "warning"
    VIOLATION = "violation"


class SlaCountdown(BaseModel):
    """The bot's reply clock: the oldest customer message still without an answer."""

    oldest_unanswered_at: datetime
    elapsed_ms: int
    remaining_ms: int = Field(description="target minus elapsed; negative once the target is missed")
    target_ms: int
    state: SlaState


def sla_countdown(oldest_unanswered_at: datetime, now: datetime, target_ms: int) -> SlaCountdown:
    elapsed = max(0, int((now - oldest_unanswered_at).total_seconds() * 1000))
    state = SlaState.VIOLATION if elapsed >= target_ms else \
        SlaState.WARNING if elapsed >= target_ms * SLA_WARNING_FRACTION else SlaState.OK
    return SlaCountdown(oldest_unanswered_at=oldest_unanswered_at, elapsed_ms=elapsed,
                        remaining_ms=target_ms - elapsed, target_ms=target_ms, state=state)


def first_name_of(lead: dict[str, object]) -> str | None:
    """The only personal detail the console's list and the Slack notice show."""
    try:
        return LeadForm.model_validate(lead).first_name
    except ValueError:
        name = lead.get("name")
        return str(name).split()[0] if isinstance(name, str) and name.split() else None


def actions_for(owner: Owner, status: ConversationStatus, *, console_acts: bool) -> list[Action]:
    """What an agent may do here; nothing when another tool (Chatwoot) is the agents' screen."""
    if not console_acts or status == ConversationStatus.RESOLVED:
        return []
    if owner == Owner.HUMAN:
        return [Action.REPLY, Action.HAND_BACK, Action.RESOLVE]
    return [Action.TAKE_OVER, Action.REPLY, Action.RESOLVE]


class ConversationFacts(BaseModel):
    """What the store knows about an open conversation, for the console's list."""

    record: ConversationRecord
    broker_name: str | None
    handoff_reason: str | None
    oldest_unanswered_at: datetime | None = Field(description="the oldest accepted customer message without a "
                                                              "finished reply")


class ConsoleRow(BaseModel):
    """One open conversation as the console's list shows it."""

    id: int
    first_name: str | None
    owner: Owner
    status: ConversationStatus
    broker: str | None = Field(description="the persona broker assigned (None while every broker is full)")
    loan_type: str
    lead_score: int
    handoff_reason: str | None
    waiting_since: datetime | None = Field(description="since when the customer has waited for a human")
    waited_s: float | None = Field(description="seconds waited for a human, as of `now` of the answer")
    sla: SlaCountdown | None = Field(description="bot-owned with an unanswered customer message: the reply clock")
    last_activity_at: datetime
    chatwoot_url: str | None = Field(description="with Chatwoot: the conversation there (agents act in Chatwoot)")
    actions: list[Action]


class ConsoleOverview(BaseModel):
    inbox: str
    actions_available: bool = Field(description="false with Chatwoot: agents act there, the console links to it")
    now: datetime
    waiting: int = Field(description="conversations waiting for a human")
    conversations: list[ConsoleRow]


class ConsoleMessage(BaseModel):
    id: str
    role: str
    content: str
    created_at: datetime
    private: bool = Field(description="a note for agents only (e.g. the handoff reason); the customer never sees it")


class ConsoleConversation(ConsoleRow):
    lead: dict[str, object] = Field(description="the lead form as submitted")
    human_replied_at: datetime | None
    typing: bool | None = Field(description="the broker (bot) is typing; null when the inbox cannot tell")
    messages: list[ConsoleMessage]

    @classmethod
    def of(cls, row: ConsoleRow, *, lead: dict[str, object], human_replied_at: datetime | None,
           typing: bool | None, messages: list[ChatMessage]) -> ConsoleConversation:
        return cls(**row.model_dump(), lead=lead, human_replied_at=human_replied_at, typing=typing,
                   messages=[ConsoleMessage(id=m.id, role=m.role.value, content=m.content, created_at=m.created_at,
                                            private=m.private) for m in messages])
