"""Response and request models of the public HTTP contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.personas import PERSONAS_BY_NAME, Persona
from aibroker.domain.storable import MessageText


class ErrorDetail(BaseModel):
    field: str = Field(description="the offending field, dotted (`actualIncomes.0`); `body` for the whole body")
    message: str


class ErrorBody(BaseModel):
    """The one shape of every error answer (4xx and 5xx), whichever part of the stack produced it."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="what went wrong, for a person")
    detail: list[ErrorDetail] | None = Field(default=None, description="one entry per invalid field (400, 422)")
    part: str | None = Field(default=None, description="the dependency that failed (502, 503)")
    retry: bool | None = Field(default=None, description="whether the same request may succeed later")


class HealthOut(BaseModel):
    """Anyone sees `status` and `failing`; the rest is for operators (admin token)."""

    status: str = Field(description="`ok`, or `degraded` (with 503) when a part fails")
    failing: list[str] = Field(description="names of the failing parts: database, redis, worker, queue")
    paused: bool = Field(False, description="the queue is paused by an operator: messages are kept, not answered")
    parts: dict[str, dict[str, Any]] | None = None
    inbox: str | None = None
    responder: str | None = None
    api_pid: int | None = Field(None, description="the API process that answered (API_PROCESSES runs several)")


class WorkerStatusOut(BaseModel):
    """Anyone sees `running` and `paused`; the rest (host names, pids) is for operators (admin token)."""

    running: bool
    paused: bool
    concurrency: int | None = None
    last_heartbeat: float | None = None
    workers: list[dict[str, Any]] | None = None
    error: str | None = None


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


class MessageIn(BaseModel):
    """A message written by a person (customer or agent): the text and an idempotency key."""

    content: MessageText = Field(min_length=1, max_length=4000)
    client_message_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                          description="idempotency key: a retry with the same id is one message")


class CustomerMessageIn(MessageIn):
    quick_reply: StrictBool = Field(default=False,
                                    description="sent by tapping a quick-reply chip (counted per chip)")


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


class HumanMessageIn(MessageIn):
    """An agent's reply from the console: the same rules as a customer's message (text, idempotency key)."""


class ConsoleMe(BaseModel):
    kind: str = Field(description="agent | admin-token")
    name: str
    email: str | None
    is_admin: bool
    csrf_token: str | None = Field(description="send as X-CSRF-Token on POSTs made with the session cookie")


class TypingIn(BaseModel):
    on: StrictBool = Field(description="the customer is typing (true) or stopped (false); never the text itself")


class TypingOut(BaseModel):
    sent: bool = Field(description="false when a `true` came within 2 s of the last one (throttled)")


class ResumeLinkOut(BaseModel):
    path: str = Field(description="open this path on this site on the other device (`/?resume=…`)")
    expires_at: datetime
    expires_in_s: int


class ResumeIn(BaseModel):
    resume_token: str = Field(min_length=1, max_length=512, description="the `resume` parameter of the link")


class ResumedOut(BaseModel):
    conversation_id: int
    conversation_token: str = Field(description="this conversation's token, as `POST /api/leads` gave it")
    broker: BrokerOut
