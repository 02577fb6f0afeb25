"""What an inbox event means for us: queue a customer message, stand down for a human, follow status.

The webhook router classifies a delivery (adapter code, pure) and hands the decision here. Customer
messages are recorded in the database before they are queued (`inbound_messages`), which both
deduplicates redeliveries and lets the worker's sweeper queue again any message whose job Redis lost.
Other events are deduplicated by a receipt row, so a redelivery after a restart is still a duplicate.

A customer message to the bot is paced here: its reply's human-like delay is drawn (`ReplyPacer`, the worker's
own), the broker is shown typing, and the job is queued already delayed until the reply is due. The wait is then a
delayed job in Redis, not a worker's run (see usecases/replies).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aibroker.domain.conversation import (
    ChatMessage,
    ConversationRecord,
    ConversationStatus,
    HistoryCopy,
    Owner,
    Role,
)
from aibroker.domain.jobs import IncomingMessageJob
from aibroker.domain.live_events import broker_typing, mirrored
from aibroker.domain.pacing import Delay, ReplyPacer
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.ports import ConversationStore, EventPublisher, Inbox, JobQueue, MessageHistoryStore
from aibroker.domain.scoring import queue_priority
from aibroker.errors import InboxError
from aibroker.logging import get_logger
from aibroker.usecases.handoff import HandoffService

if TYPE_CHECKING:
    from aibroker.usecases.adoption import Adoption
    from aibroker.usecases.legacy import LegacyPath

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """The inbox-neutral meaning of one delivery (built from the adapter's classification)."""

    kind: str  # customer_message | human_reply | status_changed | our_echo | ignored
    event: str
    inbox_conversation_id: str | None = None
    message_id: str | None = None
    dedupe_key: str | None = None
    status: ConversationStatus | None = None
    reason: str | None = None
    content: str | None = None
    created_at: datetime | None = None
    source_id: str | None = None  # our tag, for echoes of our own replies
    raw: Mapping[str, Any] | None = None  # the delivery as received (legacy forwarding, adoption)


class InboundEvents:
    """`history_in_store`: the history store keeps its copies in the store's database (the SQL one), so a customer
    message's copy is written in the transaction that records the message: one commit per message, not two.
    `pacer` (None: pacing is off) with `inbox`, where the typing indicator is shown, and `clock`: see the module
    docstring; `observe_delay` records each reply's delay (metrics)."""

    def __init__(self, store: ConversationStore, queue: JobQueue, handoffs: HandoffService, inbox_name: str,
                 history: MessageHistoryStore | None = None, legacy: LegacyPath | None = None,
                 adoption: Adoption | None = None, events: EventPublisher | None = None,
                 history_in_store: bool = False, *, clock: Callable[[], datetime], pacer: ReplyPacer | None = None,
                 inbox: Inbox | None = None,
                 observe_delay: Callable[[float], None] | None = None) -> None:
        if pacer is not None and inbox is None:
            raise ValueError("pacing shows the broker typing: it needs the inbox")
        self._pacer = pacer
        self._inbox = inbox
        self._clock = clock
        self._observe_delay = observe_delay
        self._typing_tasks: set[asyncio.Task[None]] = set()
        self._events = events
        self._history_in_store = history_in_store
        self._legacy = legacy
        self._adoption = adoption
        self._store = store
        self._history = history
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
            if event.reason == "echo_of_our_message" and event.source_id is None and self._legacy is not None:
                # Not tagged by us: another bot's outgoing message, e.g. the legacy workflow's reply.
                conversation = await self._store.find_by_inbox_id(self._inbox_name, event.inbox_conversation_id or "")
                if conversation is not None and (outcome := await self._legacy.legacy_reply(
                        conversation, event.message_id, event.content)) is not None:
                    return self._done(outcome)
            return self._done(f"ignored: {event.reason}")
        if event.kind == "our_echo":
            await self._remember(event)
            return self._done("ignored: echo_of_our_message")
        if not event.inbox_conversation_id or not event.dedupe_key:
            return self._done("ignored: malformed: no conversation or delivery id")
        conversation = await self._store.find_by_inbox_id(self._inbox_name, event.inbox_conversation_id)
        if conversation is None and self._adoption is not None and event.kind == "customer_message":
            adopted = await self._adoption.adopt(event)  # a conversation begun in the inbox itself
            if isinstance(adopted, str):
                return self._done(f"ignored: {adopted}")
            conversation = adopted
        if conversation is None:
            return self._done("ignored: conversation not started through aibroker")
        if event.kind != "customer_message":  # (a customer's message is copied where it is recorded, below)
            await self._remember(event)
        if event.kind == "human_reply" and self._legacy is not None and (outcome := await self._legacy.legacy_reply(
                conversation, event.message_id, event.content)) is not None:
            return self._done(outcome)
        if event.kind == "customer_message":
            assert event.message_id is not None
            if conversation.owner == Owner.HUMAN and not (self._legacy and await self._legacy.is_legacy(conversation)):
                await self._remember(event)
                await self._store.mark_waiting(conversation.id)  # the customer now waits for a human's answer
                return self._done("ignored: a human owns the conversation")  # (n8n gets every legacy message)
            first = await self.accept_customer_message(conversation, event.message_id, event)
            return self._done("queued" if first else "ignored: duplicate delivery")
        if not await self._store.first_receipt(self._inbox_name, event.event, event.dedupe_key):
            return self._done("ignored: duplicate delivery")
        if event.kind == "human_reply":
            await self._handoffs.mark_human_owned(conversation)
            await self._store.human_replied(conversation.id)
            return self._done("human took over")
        if event.kind == "status_changed" and event.status is not None:
            return self._done(await self._status_changed(conversation.id, event.status))
        return self._done(f"ignored: unsupported event kind {event.kind}")

    async def accept_customer_message(self, conversation: ConversationRecord, message_id: str,
                                      event: InboundEvent | None = None, message: ChatMessage | None = None) -> bool:
        """Record, then queue, a customer message. True the first time this message is seen.

        Queueing is idempotent (job id), so a redelivery is queued again harmlessly: that re-creates a job
        Redis lost. If Redis is down, DependencyUnavailable propagates (HTTP 503) and the recorded message
        is queued later by the sweeper: accepted is never lost. The first time, live UIs are told (the agents'
        console, the customer's other devices), with the message as `message` (our chat) or `event` carries it.
        """
        if self._legacy is not None and (diverted := await self._legacy.divert(
                conversation, message_id, event.content if event else None, event.raw if event else None)) is not None:
            if event is not None:
                await self._remember(event)
            return diverted  # the legacy workflow answers (or, with the AI off, humans do)
        copy = self._copy(event) if event is not None and self._history_in_store else None
        if event is not None and copy is None:
            await self._remember(event)
        content, at = (message.content, message.created_at) if message else (
            (event.content, event.created_at) if event else (None, None))
        live = {"message_id": message_id, "role": "customer", "content": content,
                "created_at": at.isoformat() if at else None}
        mirror = mirrored("message:customer", live) if self._events is not None else None
        received_at = self._clock()
        # One transaction: the message, its history copy, its analytics row, and (while humans own the conversation:
        # the worker's job then skips the message) the start of the customer's wait for a human, unless already
        # waiting (a guarded UPDATE, no effect while the bot owns it).
        first = await self._store.record_inbound(conversation.id, message_id, copy=copy, received_at=received_at,
                                                 events=[("message:customer", mirror)] if mirror else ())
        # A redelivery is not paced here: its job exists (the add below keeps it), or Redis lost it and the job,
        # queued now, works out its due moment itself.
        delay = self._reply_delay(conversation, message_id, content) if first else None
        if first and self._events is not None:
            await self._events.publish_live(conversation.id, [("message:customer", live),
                                                              *([broker_typing(True)] if delay is not None else [])])
        due_at_ms = int(received_at.timestamp() * 1000) + delay.ms if delay is not None else None
        await self._queue.enqueue(IncomingMessageJob(conversation_id=conversation.id, message_id=message_id,
                                                     lead_score=conversation.lead_score, due_at_ms=due_at_ms),
                                  delay_ms=delay.ms if delay is not None else 0,
                                  priority=queue_priority(conversation.lead_score), new=first)
        if delay is not None:
            self._show_typing(conversation.inbox_conversation_id)
        # (Not marked queued: the sweeper looks at an unanswered message once it is older than its grace period, and
        # marks it when it does; a commit per message here bought nothing, and SQLite commits are the webhook's
        # limit.)
        return first

    def _reply_delay(self, conversation: ConversationRecord, message_id: str, content: str | None) -> Delay | None:
        """The human-like delay to queue this message's reply with; None when it is not paced here: pacing off, not
        the bot's conversation, no text known, a handoff trigger (answered at once), or no delay worth deferring."""
        persona = PERSONAS_BY_NAME.get(conversation.persona_name)
        if self._pacer is None or conversation.owner != Owner.BOT or content is None or persona is None:
            return None
        delay = self._pacer.queued_delay(persona.persona_type, conversation.id, message_id, content)
        if delay is not None and self._observe_delay is not None:
            self._observe_delay(delay.seconds)
        return delay

    def _show_typing(self, inbox_conversation_id: str) -> None:
        """The broker typing in the inbox while the reply waits. Cosmetic, so it does not hold the acknowledgement
        back (Chatwoot's is a round trip): it runs beside it, and a failure is only logged."""
        async def typing_on() -> None:
            assert self._inbox is not None
            try:
                await self._inbox.set_typing(inbox_conversation_id, True)
            except InboxError as error:
                log.info("typing indicator on skipped: %s", error.reason)

        task = asyncio.create_task(typing_on())
        self._typing_tasks.add(task)  # (held until done: the loop keeps only a weak reference)
        task.add_done_callback(self._typing_tasks.discard)

    async def _remember(self, event: InboundEvent) -> None:
        """Keep our own copy of what customers and humans write (bot tokens cannot list messages)."""
        if self._history is not None and (copy := self._copy(event)) is not None:
            await self._history.record(copy.inbox_conversation_id, copy.message)

    def _copy(self, event: InboundEvent) -> HistoryCopy | None:
        roles = {"customer_message": Role.CUSTOMER, "human_reply": Role.HUMAN, "our_echo": Role.BOT}
        if self._history is None or event.kind not in roles or not event.inbox_conversation_id \
                or not event.message_id or event.content is None or event.created_at is None:
            return None
        return HistoryCopy(self._inbox_name, event.inbox_conversation_id, ChatMessage(
            id=event.message_id, role=roles[event.kind], content=event.content, created_at=event.created_at,
            source_id=event.source_id))

    async def _status_changed(self, conversation_id: int, status: ConversationStatus) -> str:
        conversation = await self._store.get_conversation(conversation_id)
        assert conversation is not None
        if status == ConversationStatus.RESOLVED:
            await self._handoffs.resolved(conversation)
            return "resolved: broker released"
        if status == ConversationStatus.OPEN and conversation.owner == Owner.BOT:
            if await self._handoffs.handing_off(conversation):
                return "opened: the bot's handoff under way"
            await self._handoffs.mark_human_owned(conversation, inbox_open=True)
            return "opened: human owns"
        if status == ConversationStatus.PENDING and conversation.owner == Owner.HUMAN:
            await self._handoffs.hand_back(conversation, operator="inbox")
            return "pending: bot owns again"
        await self._store.set_ownership(conversation.id, status=status)
        return f"status {status.value}"
