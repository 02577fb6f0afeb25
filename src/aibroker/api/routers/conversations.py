"""The built-in chat: a customer's messages in, the conversation's messages out; operator handoff."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fastapi import APIRouter, Depends, Query, status

from aibroker.api.deps import AdminDep, ContainerDep
from aibroker.api.ratelimit import RATE_LIMITED, limit_customer_messages
from aibroker.api.schemas import ConversationOut, CustomerMessageIn, MessageAccepted, MessageOut, MessagesOut
from aibroker.bootstrap import Container
from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.handoff import HandoffDecision
from aibroker.domain.ports import Inbox
from aibroker.errors import NotFound

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


async def _conversation(container: Container, conversation_id: int) -> ConversationRecord:
    record = await container.store.get_conversation(conversation_id)
    if record is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return record


@runtime_checkable
class TypingAware(Protocol):
    """An inbox that can say whether the bot is typing (the built-in one); Chatwoot cannot."""

    async def is_typing(self, conversation_id: str) -> bool: ...


async def typing_of(inbox: Inbox, inbox_conversation_id: str) -> bool | None:
    """Whether the broker is typing in this conversation; None when the inbox cannot tell."""
    return await inbox.is_typing(inbox_conversation_id) if isinstance(inbox, TypingAware) else None


async def _out(container: Container, conversation_id: int) -> ConversationOut:
    record = await _conversation(container, conversation_id)
    return ConversationOut.of(record, typing=await typing_of(container.inbox, record.inbox_conversation_id))


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: int, container: ContainerDep) -> ConversationOut:
    """`typing` is true while the broker is typing a reply (built-in inbox; null with Chatwoot)."""
    return await _out(container, conversation_id)


@router.get("/{conversation_id}/messages", response_model=MessagesOut)
async def list_messages(conversation_id: int, container: ContainerDep,
                        before: str | None = Query(default=None, max_length=32),
                        limit: int = Query(default=100, ge=1, le=500)) -> MessagesOut:
    record = await _conversation(container, conversation_id)
    messages = await container.inbox.list_messages(record.inbox_conversation_id, before=before, limit=limit)
    # Private notes are for agents; the customer's view never shows them.
    return MessagesOut(messages=[MessageOut(id=m.id, role=m.role.value, content=m.content, created_at=m.created_at)
                                 for m in messages if not m.private])


@router.post("/{conversation_id}/messages", status_code=status.HTTP_202_ACCEPTED, response_model=MessageAccepted,
             dependencies=[Depends(limit_customer_messages)], responses=RATE_LIMITED)
async def post_message(conversation_id: int, body: CustomerMessageIn, container: ContainerDep) -> MessageAccepted:
    """Saved first, then queued. If the queue is down the answer is 503 and the message is answered once
    the queue is back; a retry with the same `client_message_id` is the same message, not a second one."""
    record = await _conversation(container, conversation_id)
    message = await container.inbox.post_customer_message(record.inbox_conversation_id, body.content,
                                                          client_message_id=body.client_message_id)
    first = await container.inbound.accept_customer_message(record, message.id)
    return MessageAccepted(message_id=message.id, queued=first)


@router.post("/{conversation_id}/handoff", response_model=ConversationOut)
async def hand_off(conversation_id: int, container: ContainerDep, operator: AdminDep) -> ConversationOut:
    record = await _conversation(container, conversation_id)
    await container.handoffs.hand_off(record, HandoffDecision.by_operator(operator))
    return await _out(container, conversation_id)


@router.post("/{conversation_id}/handback", response_model=ConversationOut)
async def hand_back(conversation_id: int, container: ContainerDep, operator: AdminDep) -> ConversationOut:
    record = await _conversation(container, conversation_id)
    await container.handoffs.hand_back(record, operator)
    return await _out(container, conversation_id)
