"""The console's list in SQL: open conversations with their broker, handoff reason and oldest unanswered message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.models import Broker, BrokerAssignment, Conversation, InboundMessage, ReplyLedgerEntry
from aibroker.domain.console import ConversationFacts
from aibroker.domain.conversation import ConversationRecord, ConversationStatus, Owner

OPEN_STATUSES = (ConversationStatus.PENDING.value, ConversationStatus.OPEN.value)


def _facts_query() -> Select[Conversation, str, str | None, datetime]:
    # A customer message is unanswered while no reply-ledger row for it is finished (sent or skipped): the same
    # rule the sweeper uses to find messages whose job was lost.
    finished = select(ReplyLedgerEntry.id).where(
        ReplyLedgerEntry.conversation_id == InboundMessage.conversation_id,
        ReplyLedgerEntry.key == literal("message:") + InboundMessage.message_id,
        ReplyLedgerEntry.state != "claimed").exists()
    oldest_unanswered = (select(func.min(InboundMessage.received_at))
                         .where(InboundMessage.conversation_id == Conversation.id, ~finished)
                         .correlate(Conversation).scalar_subquery())
    return (select(Conversation, Broker.name, BrokerAssignment.handoff_reason, oldest_unanswered)
            .outerjoin(Broker, Broker.id == Conversation.broker_id)
            .outerjoin(BrokerAssignment, BrokerAssignment.conversation_id == Conversation.id))


def _facts(row: Any) -> ConversationFacts:
    conversation, broker_name, handoff_reason, oldest = row
    return ConversationFacts(record=ConversationRecord.model_validate(conversation, from_attributes=True),
                             broker_name=broker_name, handoff_reason=handoff_reason,
                             oldest_unanswered_at=oldest)


class SqlConsoleReadModel:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open_conversations(self, limit: int) -> list[ConversationFacts]:
        query = (_facts_query().where(Conversation.status.in_(OPEN_STATUSES))
                 .order_by(Conversation.waiting_since.is_(None), Conversation.waiting_since,
                           (Conversation.owner != Owner.HUMAN.value), Conversation.last_activity_at.desc(),
                           Conversation.id.desc())
                 .limit(limit))
        async with self._sessions() as session:
            return [_facts(row) for row in (await session.execute(query)).all()]

    async def facts(self, conversation_id: int) -> ConversationFacts | None:
        async with self._sessions() as session:
            row = (await session.execute(_facts_query().where(Conversation.id == conversation_id))).first()
        return _facts(row) if row is not None else None
