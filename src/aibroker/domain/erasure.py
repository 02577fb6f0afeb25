"""Erasure and retention (Singapore PDPA): what to delete for a person or by age, and the report of what went.

Pure: the database adapter finds an `ErasureTarget` and deletes it; the use case turns the counts into an
`ErasureReport`, which the admin route returns as JSON and the CLI prints as lines. Chatwoot keeps its own copy
of contacts and messages that we cannot (and must not silently) delete, so the report names them for the operator.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, validate_email

from aibroker.errors import InvalidRequest

# Every table that can hold a person's data, children before parents (the order deletes run in).
ERASED_TABLES = ("reply_ledger", "inbound_messages", "broker_conversations", "chat_events", "message_history",
                 "conversations", "inbox_messages", "inbox_conversations", "inbox_contacts")
CHATWOOT = "chatwoot"
MAX_EMAIL_LENGTH = 320


def erasure_email(raw: str) -> str:
    """The address to erase, normalised as the lead form stored it (domain lower-cased), then lower-cased
    entirely: addresses are matched case-insensitively. Raises InvalidRequest for anything else."""
    candidate = raw.strip()
    if not candidate or len(candidate) > MAX_EMAIL_LENGTH or "<" in candidate:
        raise InvalidRequest("email: not a valid e-mail address")
    try:
        _name, email = validate_email(candidate)
    except ValueError as error:
        raise InvalidRequest(f"email: not a valid e-mail address ({_reason(error)})") from error
    return email.lower()


def _reason(error: ValueError) -> str:
    """email-validator's explanation without the address itself (it may be echoed into a response)."""
    text = str(error).splitlines()[-1] if str(error) else "invalid"
    return text.split("value is not a valid email address: ")[-1].strip()[:200]


class ConversationRef(BaseModel):
    """A conversation of ours and where its inbox keeps it."""

    id: int
    inbox: str
    inbox_conversation_id: str
    inbox_contact_id: str


class ErasureTarget(BaseModel):
    """What one deletion removes: our conversations, plus built-in inbox conversations and contacts (also those
    no conversation of ours refers to, e.g. left by an intake that failed half-way)."""

    conversations: list[ConversationRef] = Field(default_factory=list)
    inbox_conversation_ids: list[int] = Field(default_factory=list)
    inbox_contact_ids: list[int] = Field(default_factory=list)

    @property
    def conversation_ids(self) -> list[int]:
        return [c.id for c in self.conversations]

    @property
    def empty(self) -> bool:
        return not (self.conversations or self.inbox_conversation_ids or self.inbox_contact_ids)


class ErasureCounts(BaseModel):
    deleted: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(ERASED_TABLES, 0))
    broker_slots_released: int = 0

    def add(self, other: ErasureCounts) -> None:
        for table, count in other.deleted.items():
            self.deleted[table] = self.deleted.get(table, 0) + count
        self.broker_slots_released += other.broker_slots_released


class ChatwootConversation(BaseModel):
    """A conversation whose messages and contact live in Chatwoot too: the operator deletes them there."""

    conversation_id: int = Field(description="our conversation id (erased here)")
    chatwoot_contact_id: str
    chatwoot_conversation_id: str


class ErasureReport(BaseModel):
    """What an erasure (`scope: email`) or a retention purge (`scope: age`) removed."""

    scope: Literal["email", "age"]
    nothing_found: bool
    conversation_ids: list[int] = Field(description="our conversation ids whose data was deleted")
    deleted: dict[str, int] = Field(description="rows deleted per table")
    broker_slots_released: int = Field(description="active broker assignments given back (release reason `erased`)")
    redis_streams_deleted: int | None = Field(description="per-conversation event streams deleted from Redis; "
                                                          "null when Redis was not available to this command")
    chatwoot: list[ChatwootConversation] = Field(
        description="conversations that also exist in Chatwoot: delete these contacts and conversations there")
    notes: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, scope: Literal["email", "age"], target: ErasureTarget, counts: ErasureCounts,
           streams_deleted: int | None, notes: list[str]) -> ErasureReport:
        chatwoot = [ChatwootConversation(conversation_id=c.id, chatwoot_contact_id=c.inbox_contact_id,
                                         chatwoot_conversation_id=c.inbox_conversation_id)
                    for c in target.conversations if c.inbox == CHATWOOT]
        notes = list(notes)
        if chatwoot:
            notes.append(f"{len(chatwoot)} conversation(s) also live in Chatwoot: delete those contacts and "
                         "conversations in Chatwoot (aibroker cannot erase Chatwoot's copy)")
        return cls(scope=scope, nothing_found=target.empty, conversation_ids=sorted(target.conversation_ids),
                   deleted=counts.deleted, broker_slots_released=counts.broker_slots_released,
                   redis_streams_deleted=streams_deleted, chatwoot=chatwoot, notes=notes)

    def lines(self) -> list[str]:
        """The report as a person reads it (the CLI's output)."""
        if self.nothing_found:
            return ["nothing found: no conversation, contact or message matched; nothing was deleted"]
        ids = ", ".join(str(i) for i in self.conversation_ids) or "none"
        lines = [f"erased {len(self.conversation_ids)} conversation(s): {ids}", "rows deleted:"]
        lines += [f"  {table}: {count}" for table, count in self.deleted.items()]
        lines.append(f"broker slots given back: {self.broker_slots_released}")
        streams = "not cleared" if self.redis_streams_deleted is None else str(self.redis_streams_deleted)
        lines.append(f"redis event streams deleted: {streams}")
        lines += [f"chatwoot: contact {c.chatwoot_contact_id}, conversation {c.chatwoot_conversation_id} "
                  f"(ours: {c.conversation_id})" for c in self.chatwoot]
        lines += [f"note: {note}" for note in self.notes]
        return lines
