"""Response and request models of the public HTTP contract."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.personas import PERSONAS_BY_NAME, Persona


class BrokerOut(BaseModel):
    name: str
    title: str | None
    persona_type: str | None

    @classmethod
    def of(cls, persona: Persona) -> BrokerOut:
        return cls(name=persona.name, title=persona.title, persona_type=persona.persona_type.value)

    @classmethod
    def named(cls, name: str) -> BrokerOut:
        """A conversation's broker by name; a name that is no longer a persona is shown as it is."""
        persona = PERSONAS_BY_NAME.get(name)
        return cls.of(persona) if persona else cls(name=name, title=None, persona_type=None)


class LeadAccepted(BaseModel):
    conversation_id: int
    broker: BrokerOut
    reused: bool
    conversation_token: str = Field(description="the key to this conversation: send it as the "
                                    "`X-Conversation-Token` header on its routes (and on a repeated lead form "
                                    "to continue it). Shown only here; the server keeps only its hash.")


class PublicConfig(BaseModel):
    privacy_policy_url: str = Field(description="the privacy notice the lead form links to")


class CustomerMessageIn(BaseModel):
    content: str = Field(min_length=1, max_length=4000)
    client_message_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                          description="idempotency key: a retry with the same id is one message")


class MessageAccepted(BaseModel):
    message_id: str
    queued: bool


class MessageOut(BaseModel):
    id: str
    role: str
    content: str
    created_at: datetime


class MessagesOut(BaseModel):
    messages: list[MessageOut]


class ConversationOut(BaseModel):
    id: int
    status: str
    owner: str
    broker: BrokerOut
    lead_score: int
    loan_type: str
    inbox: str
    created_at: datetime
    last_activity_at: datetime
    typing: bool | None = Field(default=None, description="the broker is typing a reply right now; "
                                "null when the inbox cannot tell (Chatwoot)")

    @classmethod
    def of(cls, record: ConversationRecord, *, typing: bool | None = None) -> ConversationOut:
        return cls(id=record.id, status=record.status.value, owner=record.owner.value,
                   broker=BrokerOut.named(record.persona_name), lead_score=record.lead_score,
                   loan_type=record.loan_type, inbox=record.inbox, created_at=record.created_at,
                   last_activity_at=record.last_activity_at, typing=typing)
