"""The built-in chat: a customer's messages in, the conversation's messages out; operator handoff.

Customer routes open a conversation only with its access token (or the admin token): `CustomerConversation`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, status

from aibroker.api.deps import (
    CONVERSATION_NOT_FOUND,
    MAX_ID,
    AdminDep,
    ContainerDep,
    ConversationId,
    CustomerConversation,
)
from aibroker.api.errors import error_responses
from aibroker.api.ratelimit import limit_customer_messages
from aibroker.api.schemas import ConversationOut, CustomerMessageIn, MessageAccepted, MessageOut, MessagesOut
from aibroker.bootstrap import Container
from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.handoff import HandoffDecision
from aibroker.domain.personas import PERSONAS
from aibroker.domain.quick_replies import is_quick_reply
from aibroker.errors import NotFound
from aibroker.usecases.console import typing_of

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


async def _conversation(container: Container, conversation_id: int) -> ConversationRecord:
    """For the operator (admin) routes; customer routes resolve theirs with `CustomerConversation`."""
    record = await container.store.get_conversation(conversation_id)
    if record is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return record


async def _out(container: Container, record: ConversationRecord) -> ConversationOut:
    return ConversationOut.of(record, typing=await typing_of(container.inbox, record.inbox_conversation_id))


@router.get("/{conversation_id}", response_model=ConversationOut, responses=error_responses(404, 422, 503))
async def get_conversation(record: CustomerConversation, container: ContainerDep) -> ConversationOut:
    """`typing` is true while the broker is typing a reply (built-in inbox; null with Chatwoot)."""
    return await _out(container, record)


@router.get("/{conversation_id}/messages", response_model=MessagesOut,
            responses=error_responses(404, 422, 502, 503))
async def list_messages(record: CustomerConversation, container: ContainerDep,
                        before: int | None = Query(default=None, ge=1, le=MAX_ID,
                                                   description="a message id: only messages older than it"),
                        limit: int = Query(default=100, ge=1, le=500)) -> MessagesOut:
    messages = await container.inbox.list_messages(record.inbox_conversation_id,
                                                   before=None if before is None else str(before), limit=limit)
    # Private notes are for agents; the customer's view never shows them.
    return MessagesOut(messages=[MessageOut(id=m.id, role=m.role.value, content=m.content, created_at=m.created_at)
                                 for m in messages if not m.private])


@router.post("/{conversation_id}/messages", status_code=status.HTTP_202_ACCEPTED, response_model=MessageAccepted,
             dependencies=[Depends(limit_customer_messages)],
             responses=error_responses(400, 404, 413, 422, 429, 502, 503))
async def post_message(record: CustomerConversation, body: CustomerMessageIn,
                       container: ContainerDep) -> MessageAccepted:
    """Saved first, then queued. If the queue is down the answer is 503 and the message is answered once
    the queue is back; a retry with the same `client_message_id` is the same message, not a second one.
    `quick_reply`: the text is a chip the customer tapped (a click is counted only for a chip we offer)."""
    message = await container.inbox.post_customer_message(record.inbox_conversation_id, body.content,
                                                          client_message_id=body.client_message_id)
    first = await container.inbound.accept_customer_message(record, message.id, message=message)
    if body.quick_reply and first and is_quick_reply(message.content, PERSONAS):  # analytics: clicks per chip
        await container.events.publish(record.id, "quick_reply:clicked", {"chip": message.content})
    return MessageAccepted(message_id=message.id, queued=first)


@router.post("/{conversation_id}/handoff", response_model=ConversationOut,
             responses=error_responses(401, 404, 422, 502, 503))
async def hand_off(conversation_id: ConversationId, container: ContainerDep, operator: AdminDep) -> ConversationOut:
    record = await _conversation(container, conversation_id)
    await container.handoffs.hand_off(record, HandoffDecision.by_operator(operator))
    return await _out(container, await _conversation(container, conversation_id))


@router.post("/{conversation_id}/handback", response_model=ConversationOut,
             responses=error_responses(401, 404, 422, 502, 503))
async def hand_back(conversation_id: ConversationId, container: ContainerDep, operator: AdminDep) -> ConversationOut:
    record = await _conversation(container, conversation_id)
    await container.handoffs.hand_back(record, operator)
    return await _out(container, await _conversation(container, conversation_id))
