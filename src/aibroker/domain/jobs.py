"""The jobs the worker runs, as typed payloads with deterministic ids.

Ids make enqueueing idempotent: adding a job whose id exists is a no-op, so a webhook delivered twice or
a lead form submitted twice never creates two jobs. (BullMQ's Redis keys use ':' as separator, so ids
use '-' to stay unambiguous for other BullMQ tooling reading the same Redis.)
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel


class NewConversationJob(BaseModel):
    name: ClassVar[Literal["new-conversation"]] = "new-conversation"
    conversation_id: int
    lead_score: int = 0

    @property
    def job_id(self) -> str:
        return f"new-conversation-{self.conversation_id}"


class IncomingMessageJob(BaseModel):
    name: ClassVar[Literal["incoming-message"]] = "incoming-message"
    conversation_id: int
    message_id: str
    lead_score: int = 0
    # When the API queued the job already delayed by the reply's human-like delay (and showed typing): the moment
    # (ms since the epoch) the reply is due. None: the job works it out on its first run (see usecases/replies).
    due_at_ms: int | None = None

    @property
    def job_id(self) -> str:
        return f"incoming-message-{self.conversation_id}-{self.message_id}"


class ForwardLegacyJob(BaseModel):
    """A legacy conversation's customer message, to the n8n workflow (issue #11)."""

    name: ClassVar[Literal["forward-legacy"]] = "forward-legacy"
    conversation_id: int
    message_id: str

    @property
    def job_id(self) -> str:
        return f"forward-legacy-{self.conversation_id}-{self.message_id}"


class ShadowReplyJob(BaseModel):
    """aibroker's would-be answer to a legacy conversation's message: generated and stored, never sent."""

    name: ClassVar[Literal["shadow-reply"]] = "shadow-reply"
    conversation_id: int
    message_id: str

    @property
    def job_id(self) -> str:
        return f"shadow-reply-{self.conversation_id}-{self.message_id}"


Job = NewConversationJob | IncomingMessageJob | ForwardLegacyJob | ShadowReplyJob
JOB_TYPES: dict[str, type[Job]] = {
    NewConversationJob.name: NewConversationJob,
    IncomingMessageJob.name: IncomingMessageJob,
    ForwardLegacyJob.name: ForwardLegacyJob,
    ShadowReplyJob.name: ShadowReplyJob,
}
