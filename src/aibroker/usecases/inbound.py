"""What an inbox event means for us: queue a customer message, stand down for a human, follow status.

The webhook router classifies a delivery (adapter code, pure) and hands the decision here. Duplicates
are caught by a receipt row in the database, so a redelivery after a restart is still a duplicate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from aibroker.domain.conversation import ConversationStatus, Owner
from aibroker.domain.jobs import IncomingMessageJob
from aibroker.domain.ports import ConversationStore, JobQueue
from aibroker.domain.scoring import queue_priority
from aibroker.errors import DependencyUnavailable
from aibroker.logging import get_logger
from aibroker.usecases.handoff import HandoffService

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """The inbox-neutral meaning of one delivery (built from the adapter's classification)."""

    kind: str  # customer_message | human_reply | status_changed | ignored
    event: str
    inbox_conversation_id: str | None = None
    message_id: str | None = None
    dedupe_key: str | None = None
    status: ConversationStatus | None = None
    reason: str | None = None


class InboundEvents:
    def __init__(self, store: ConversationStore, queue: JobQueue, handoffs: HandoffService, inbox_name: str) -> None:
        self._store = store
        self._queue = queue
        self._handoffs = handoffs
        self._inbox_name = inbox_name
        self.outcomes: Counter[str] = Counter()

    def _done(self, outcome: str) -> str:
        self.outcomes[outcome] += 1
        if outcome.startswith("ignored"):
            log.info("webhook %s", outcome)
        return outcome

    async def handle(self, event: InboundEvent) -> str:
        if event.kind == "ignored":
            return self._done(f"ignored: {event.reason}")
        if not event.inbox_conversation_id or not event.dedupe_key:
            return self._done("ignored: malformed: no conversation or delivery id")
        conversation = await self._store.find_by_inbox_id(self._inbox_name, event.inbox_conversation_id)
        if conversation is None:
            return self._done("ignored: conversation not started through aibroker")
        if not await self._store.first_receipt(self._inbox_name, event.event, event.dedupe_key):
            return self._done("ignored: duplicate delivery")
        if event.kind == "customer_message":
            if conversation.owner == Owner.HUMAN:
                return self._done("ignored: a human owns the conversation")
            assert event.message_id is not None
            job = IncomingMessageJob(conversation_id=conversation.id, message_id=event.message_id,
                                     lead_score=conversation.lead_score)
            try:
                await self._queue.enqueue(job, priority=queue_priority(conversation.lead_score))
            except DependencyUnavailable:
                # Not accepted: forget the receipt so the sender's retry is processed, then answer 503.
                await self._store.forget_receipt(self._inbox_name, event.event, event.dedupe_key)
                raise
            return self._done("queued")
        if event.kind == "human_reply":
            await self._handoffs.mark_human_owned(conversation)
            return self._done("human took over")
        if event.kind == "status_changed" and event.status is not None:
            return self._done(await self._status_changed(conversation.id, event.status))
        return self._done(f"ignored: unsupported event kind {event.kind}")

    async def _status_changed(self, conversation_id: int, status: ConversationStatus) -> str:
        conversation = await self._store.get_conversation(conversation_id)
        assert conversation is not None
        if status == ConversationStatus.RESOLVED:
            await self._handoffs.resolved(conversation)
            return "resolved: broker released"
        if status == ConversationStatus.OPEN and conversation.owner == Owner.BOT:
            await self._handoffs.mark_human_owned(conversation)
            await self._store.set_ownership(conversation.id, status=ConversationStatus.OPEN)
            return "opened: human owns"
        if status == ConversationStatus.PENDING and conversation.owner == Owner.HUMAN:
            await self._handoffs.hand_back(conversation, operator="inbox")
            return "pending: bot owns again"
        await self._store.set_ownership(conversation.id, status=status)
        return f"status {status.value}"
