"""Who answers: assign a broker when a lead arrives, give the slot back when the bot is done or the customer
has gone quiet, and hand freed slots to waiting leads. Capacity itself is enforced by the database
(adapters/db/capacity.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aibroker.domain.brokers import AssignmentFacts
from aibroker.domain.conversation import BrokerRecord, ConversationRecord, Owner
from aibroker.domain.greetings import joined_activity
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.ports import BrokerCapacity, ConversationStore, EventPublisher, Inbox
from aibroker.errors import InboxError
from aibroker.logging import get_logger

log = get_logger(__name__)


class BrokerAssignment:
    def __init__(self, capacity: BrokerCapacity, store: ConversationStore, inbox: Inbox,
                 events: EventPublisher) -> None:
        self._capacity = capacity
        self._store = store
        self._inbox = inbox
        self._events = events

    async def assign(self, conversation: ConversationRecord) -> BrokerRecord | None:
        broker = await self._take_slot(conversation)
        if broker is not None:
            await self._show_broker(conversation, broker)
        return broker

    async def _take_slot(self, conversation: ConversationRecord) -> BrokerRecord | None:
        """A slot for the conversation (its earlier broker's when free); None: it waits, and says so."""
        persona = PERSONAS_BY_NAME[conversation.persona_name]
        broker = await self._capacity.assign(conversation.id, persona.persona_type.value,
                                             AssignmentFacts.of(conversation),
                                             preferred_broker_id=conversation.broker_id)
        if broker is None:
            log.info("conversation %s waits for a free broker", conversation.id)
            await self._events.publish(conversation.id, "broker:waiting", {"persona": persona.name})
        return broker

    async def _show_broker(self, conversation: ConversationRecord, broker: BrokerRecord) -> None:
        """The inbox's `broker` attribute names the score band's persona when the conversation is created;
        the slot may go to another broker of the same type, who is the one who speaks. Best effort: the
        attribute is information for agents, never a reason to fail an intake or a handback."""
        if broker.name == conversation.persona_name:
            return
        try:
            await self._inbox.merge_attributes(conversation.inbox_conversation_id, {"broker": broker.name})
        except InboxError as error:
            log.warning("conversation %s: could not show broker in the inbox: %s", conversation.id, error)

    async def _joined(self, conversation: ConversationRecord, broker: BrokerRecord) -> None:
        """Show a broker taking the conversation, unless it is the one who already spoke there (a conversation
        given back for idleness and now taken again): "X joined" is said once."""
        await self._show_broker(conversation, broker)
        if broker.id == conversation.broker_id:
            return
        await self._inbox.post_activity(conversation.inbox_conversation_id,
                                        joined_activity(PERSONAS_BY_NAME[broker.name]))
        await self._events.publish(conversation.id, "broker:joined", {"broker": broker.name})

    async def resume_if_idle(self, conversation: ConversationRecord, idle_released: bool | None = None
                             ) -> ConversationRecord:
        """The customer writes again in a conversation whose slot was given back for idleness: take a slot
        again, the same broker's when it has one free. No greeting (its ledger row is done) and no second
        "joined"; if every broker is full the conversation waits (and is answered all the same). `idle_released`:
        whether it was, if the caller has read it already."""
        if idle_released is None:
            idle_released = await self._capacity.idle_released(conversation.id)
        if conversation.owner != Owner.BOT or not idle_released:
            return conversation
        broker = await self._take_slot(conversation)
        if broker is None:
            return conversation
        await self._joined(conversation, broker)
        return await self._store.get_conversation(conversation.id) or conversation

    async def release_idle(self, idle_for: timedelta, now: datetime) -> int:
        """Give back the slots of conversations idle for `idle_for`, then hand them to waiting leads."""
        released = await self._capacity.release_idle(now - idle_for)
        if released:
            log.info("%d idle conversation(s) gave their broker slot back", len(released))
            await self.assign_waiting()
        return len(released)

    async def release(self, conversation: ConversationRecord, *, handoff_reason: str | None = None) -> None:
        broker_id = await self._capacity.release(conversation.id, handoff_reason=handoff_reason)
        if broker_id is not None:
            await self.assign_waiting()

    async def released_for_handoff(self, conversation: ConversationRecord) -> bool:
        return await self._capacity.released_for_handoff(conversation.id)

    async def assign_waiting(self, limit: int = 50) -> int:
        """Give free slots to waiting leads (best score first). Returns how many were assigned."""
        assigned = 0
        for conversation_id, _score in await self._capacity.waiting_conversations(limit):
            conversation = await self._store.get_conversation(conversation_id)
            if conversation is None or conversation.owner == Owner.HUMAN:
                continue
            broker = await self._capacity.assign(conversation.id, PERSONAS_BY_NAME[conversation.persona_name]
                                                 .persona_type.value, AssignmentFacts.of(conversation),
                                                 preferred_broker_id=conversation.broker_id)
            if broker is None:
                break  # still full: the rest keep waiting, in order
            assigned += 1
            await self._joined(conversation, broker)
        return assigned

    async def reconcile(self) -> dict[str, int]:
        corrections = await self._capacity.reconcile()
        if corrections:
            log.warning("broker workloads corrected: %s", corrections)
        await self.assign_waiting()
        return corrections

