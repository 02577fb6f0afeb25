"""Handoff to a human and back. The bot stays silent while humans own a conversation."""

from __future__ import annotations

from aibroker.domain.console import first_name_of
from aibroker.domain.conversation import ConversationRecord, ConversationStatus, Owner
from aibroker.domain.handoff import HandoffDecision
from aibroker.domain.ports import ConversationStore, EventPublisher, HandoffNotice, HandoffNotifier, Inbox
from aibroker.errors import InboxError
from aibroker.logging import get_logger
from aibroker.usecases.assignment import BrokerAssignment

log = get_logger(__name__)


class HandoffService:
    def __init__(self, store: ConversationStore, inbox: Inbox, events: EventPublisher,
                 assignment: BrokerAssignment, notifier: HandoffNotifier | None = None) -> None:
        self._store = store
        self._notifier = notifier
        self._assignment = assignment
        self._inbox = inbox
        self._events = events

    async def hand_off(self, conversation: ConversationRecord, decision: HandoffDecision) -> bool:
        """Move the conversation to humans (Chatwoot `open`). False if humans already owned it.

        Our owner changes only once the inbox shows the conversation `open`: if the status cannot be set, the
        bot still owns it and the caller's retry hands off again. (Owner first would leave, after a failure, a
        conversation we consider the humans' that no agent sees in the inbox's open view, and a retry would find
        it human-owned and do nothing.) The broker's slot is released first, with the reason, so the inbox's own
        status webhook (which marks the conversation human-owned too) cannot record another reason. The agents'
        note, the attribute and the label are best effort. The owner changes in one guarded update, so of two
        callers racing (a worker and an operator) only one goes on to note, publish and notify."""
        if conversation.owner == Owner.HUMAN:
            return False
        await self._assignment.release(conversation, handoff_reason=decision.reason.value)
        await self._inbox.set_status(conversation.inbox_conversation_id, ConversationStatus.OPEN)
        number = await self._store.hand_to_humans(conversation.id)
        if number is None:
            return False
        try:
            # The reason is for agents; the customer is told a specialist is coming.
            await self._inbox.post_activity(conversation.inbox_conversation_id, decision.note, internal=True)
            await self._inbox.merge_attributes(conversation.inbox_conversation_id,
                                               {"handoff_reason": decision.reason.value})
            await self._inbox.add_labels(conversation.inbox_conversation_id, ["human-handoff"])
        except InboxError as error:
            log.warning("conversation %s handed to a human; its note, attribute or label is missing: %s",
                        conversation.id, error)
        await self._events.publish(conversation.id, "handoff", {"reason": decision.reason.value,
                                                                "matched": decision.matched})
        log.info("conversation %s handed to a human: %s", conversation.id, decision.reason.value)
        if self._notifier is not None:  # once per handoff: only the caller that won the update above gets here
            await self._notifier.handoff(HandoffNotice(conversation_id=conversation.id, handoff_number=number,
                                                       reason=decision.reason.value,
                                                       first_name=first_name_of(conversation.lead)))
        return True

    async def handing_off(self, conversation: ConversationRecord) -> bool:
        """A bot-owned conversation whose slot was given back for a handoff: `hand_off` is between its first step
        and its owner change (or died there, and its job's retry finishes it). The inbox's `open` status arriving
        now is the echo of that handoff's own status change, not an agent taking over: taken for one, it would
        make the conversation human-owned first, and the handoff would find nothing left to do (no note, no
        attribute, no label, no notice; `hand_off`'s guarded owner change)."""
        return conversation.owner == Owner.BOT and await self._assignment.released_for_handoff(conversation)

    async def hand_back(self, conversation: ConversationRecord, operator: str = "operator") -> bool:
        """Return the conversation to the bot (Chatwoot `pending`). False if the bot already owned it."""
        if conversation.owner == Owner.BOT:
            return False
        await self._store.set_ownership(conversation.id, owner=Owner.BOT, status=ConversationStatus.PENDING)
        await self._assignment.assign(conversation)
        await self._inbox.set_status(conversation.inbox_conversation_id, ConversationStatus.PENDING)
        await self._inbox.post_activity(conversation.inbox_conversation_id, f"Handed back to the bot by {operator}",
                                        internal=True)
        await self._events.publish(conversation.id, "handback", {"operator": operator})
        return True

    async def mark_human_owned(self, conversation: ConversationRecord, *, inbox_open: bool = False,
                               by: str = "agent reply", reason: str = "agent_replied") -> None:
        """A human took over in the inbox (a public agent reply, or the inbox moved it to `open`): from now on
        the bot stands down. Ownership is mirrored to the inbox status, so a conversation an agent took over
        by replying leaves the bot's `pending` view for the agents' `open` one, and setting it back to
        `pending` hands it back. `inbox_open`: the inbox already says open (the change came from there). A console
        take-over comes here too (`by` the agent's name, `reason` agent_took_over)."""
        if conversation.owner == Owner.HUMAN:
            return
        await self._store.set_ownership(conversation.id, owner=Owner.HUMAN, status=ConversationStatus.OPEN)
        await self._assignment.release(conversation, handoff_reason=reason)
        await self._events.publish(conversation.id, "owner:human", {"by": by})
        if inbox_open:
            return
        try:  # best effort: the bot is already silent; a retried webhook would be a duplicate anyway
            await self._inbox.set_status(conversation.inbox_conversation_id, ConversationStatus.OPEN)
        except InboxError as error:
            log.warning("conversation %s: human took over, but the inbox status stays as it was: %s",
                        conversation.id, error)

    async def resolved(self, conversation: ConversationRecord) -> None:
        """The inbox marked the conversation resolved: its broker's slot is free again."""
        await self._store.set_ownership(conversation.id, status=ConversationStatus.RESOLVED)
        await self._assignment.release(conversation)
        await self._events.publish(conversation.id, "conversation:resolved", {})

    async def resolve(self, conversation: ConversationRecord, by: str) -> bool:
        """An agent closed the conversation (console): the inbox shows it resolved, its broker's slot is free.
        False if it was resolved already."""
        if conversation.status == ConversationStatus.RESOLVED:
            return False
        await self._inbox.set_status(conversation.inbox_conversation_id, ConversationStatus.RESOLVED)
        await self._inbox.post_activity(conversation.inbox_conversation_id, f"Resolved by {by}", internal=True)
        await self.resolved(conversation)
        return True
