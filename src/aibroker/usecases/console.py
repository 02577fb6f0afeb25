"""The broker console's use cases (issue #12): the list, one conversation, and what an agent does with it.

Take over, reply, hand back and resolve go through `HandoffService`, so the worker sees the same ownership the
inbox webhooks set: while humans own a conversation the bot stands down. A human's reply is posted by the built-in
inbox (`role` human) and stops the human-response clock. With Chatwoot, agents work in Chatwoot: the console lists
and links, and refuses actions (409).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

from aibroker.domain.console import (
    Action,
    ConsoleConversation,
    ConsoleOverview,
    ConsoleRow,
    ConversationFacts,
    actions_for,
    first_name_of,
    sla_countdown,
)
from aibroker.domain.conversation import ChatMessage, ConversationRecord, Owner
from aibroker.domain.ports import ConsoleReadModel, ConversationStore, EventPublisher, Inbox
from aibroker.errors import Conflict, NotFound, TransientInboxError
from aibroker.logging import get_logger
from aibroker.usecases.handoff import HandoffService

log = get_logger(__name__)

LIST_LIMIT = 200
TRANSCRIPT_LIMIT = 500


@runtime_checkable
class HumanMessaging(Protocol):
    """An inbox that takes a human agent's reply from us (the built-in one); Chatwoot's agents write in Chatwoot."""

    async def post_human_message(self, conversation_id: str, content: str, *,
                                 client_message_id: str | None = None) -> ChatMessage: ...


@runtime_checkable
class TypingAware(Protocol):
    """An inbox that can say whether the bot is typing (the built-in one); Chatwoot cannot."""

    async def is_typing(self, conversation_id: str) -> bool: ...


async def typing_of(inbox: Inbox, inbox_conversation_id: str) -> bool | None:
    """Whether the broker is typing in this conversation; None when the inbox cannot tell (Chatwoot, or the built-in
    inbox's Redis out of reach: a page is not failed for a cosmetic flag)."""
    if not isinstance(inbox, TypingAware):
        return None
    try:
        return await inbox.is_typing(inbox_conversation_id)
    except TransientInboxError as error:
        log.info("typing state unknown: %s", error.reason)
        return None


class ConsoleService:
    def __init__(self, store: ConversationStore, read_model: ConsoleReadModel, inbox: Inbox,
                 events: EventPublisher, handoffs: HandoffService, *, clock: Callable[[], datetime],
                 sla_target_ms: int, chatwoot_link: Callable[[str], str] | None = None) -> None:
        self._store = store
        self._read = read_model
        self._inbox = inbox
        self._events = events
        self._handoffs = handoffs
        self._clock = clock
        self._sla_target_ms = sla_target_ms
        self._chatwoot_link = chatwoot_link  # set with Chatwoot: the conversation's page there

    @property
    def acts(self) -> bool:
        """Whether agents act here (the built-in inbox) rather than in Chatwoot."""
        return self._chatwoot_link is None and isinstance(self._inbox, HumanMessaging)

    def _row(self, facts: ConversationFacts, now: datetime) -> ConsoleRow:
        record = facts.record
        waited = (now - record.waiting_since).total_seconds() if record.waiting_since else None
        sla = sla_countdown(facts.oldest_unanswered_at, now, self._sla_target_ms) \
            if record.owner == Owner.BOT and facts.oldest_unanswered_at is not None else None
        return ConsoleRow(
            id=record.id, first_name=first_name_of(record.lead), owner=record.owner, status=record.status,
            broker=facts.broker_name if record.broker_id is not None else None, loan_type=record.loan_type,
            lead_score=record.lead_score, handoff_reason=facts.handoff_reason, waiting_since=record.waiting_since,
            waited_s=None if waited is None else round(max(waited, 0.0), 1), sla=sla,
            last_activity_at=record.last_activity_at,
            chatwoot_url=self._chatwoot_link(record.inbox_conversation_id) if self._chatwoot_link else None,
            actions=actions_for(record.owner, record.status, console_acts=self.acts))

    async def overview(self) -> ConsoleOverview:
        now = self._clock()
        rows = [self._row(facts, now) for facts in await self._read.open_conversations(LIST_LIMIT)]
        return ConsoleOverview(inbox=self._inbox.name, actions_available=self.acts, now=now,
                               waiting=sum(1 for row in rows if row.waiting_since is not None), conversations=rows)

    async def conversation(self, conversation_id: int) -> ConsoleConversation:
        facts = await self._read.facts(conversation_id)
        if facts is None:
            raise NotFound("conversation not found")
        record = facts.record
        messages = await self._inbox.list_messages(record.inbox_conversation_id, limit=TRANSCRIPT_LIMIT)
        return ConsoleConversation.of(self._row(facts, self._clock()), lead=record.lead,
                                      human_replied_at=record.human_replied_at,
                                      typing=await typing_of(self._inbox, record.inbox_conversation_id),
                                      messages=messages)

    async def _actionable(self, conversation_id: int, action: Action) -> ConversationRecord:
        record = await self._store.get_conversation(conversation_id)
        if record is None:
            raise NotFound("conversation not found")
        if not self.acts:
            raise Conflict("agents act in Chatwoot for this deployment: open the conversation there")
        if action not in actions_for(record.owner, record.status, console_acts=True):
            raise Conflict(f"cannot {action.value}: the conversation is {record.status.value}, "
                           f"owned by the {record.owner.value}")
        return record

    async def take_over(self, conversation_id: int, agent: str) -> ConsoleConversation:
        record = await self._actionable(conversation_id, Action.TAKE_OVER)
        await self._handoffs.mark_human_owned(record, by=agent, reason="agent_took_over")
        return await self.conversation(conversation_id)

    async def reply(self, conversation_id: int, agent: str, content: str,
                    client_message_id: str | None = None) -> ConsoleConversation:
        """Post as a human; a bot-owned conversation is taken over first (the bot must not talk over the agent)."""
        record = await self._actionable(conversation_id, Action.REPLY)
        if record.owner == Owner.BOT:
            await self._handoffs.mark_human_owned(record, by=agent, reason="agent_took_over")
        assert isinstance(self._inbox, HumanMessaging)  # (self.acts)
        message = await self._inbox.post_human_message(record.inbox_conversation_id, content,
                                                       client_message_id=client_message_id)
        await self._store.human_replied(record.id)
        await self._events.publish(record.id, "message:human", {"message_id": message.id})
        return await self.conversation(conversation_id)

    async def hand_back(self, conversation_id: int, agent: str) -> ConsoleConversation:
        record = await self._actionable(conversation_id, Action.HAND_BACK)
        await self._handoffs.hand_back(record, operator=agent)
        return await self.conversation(conversation_id)

    async def resolve(self, conversation_id: int, agent: str) -> ConsoleConversation:
        record = await self._actionable(conversation_id, Action.RESOLVE)
        await self._handoffs.resolve(record, by=agent)
        return await self.conversation(conversation_id)


def chatwoot_conversation_url(base_url: str, account_id: int) -> Callable[[str], str]:
    """Chatwoot's own page of a conversation, for agents."""
    return lambda conversation_id: f"{base_url.rstrip('/')}/app/accounts/{account_id}/conversations/{conversation_id}"

