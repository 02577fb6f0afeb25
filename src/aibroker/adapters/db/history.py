"""A database-backed `MessageHistoryStore`: our own copy of an inbox's messages that survives restarts.

Used with Chatwoot when only an agent-bot token is configured (bot tokens cannot list messages).
Message ids are Chatwoot's integers; they are stored as text and ordered numerically via their length
first, so "10" sorts after "9" on every backend.
"""

from __future__ import annotations

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.models import MessageHistory
from aibroker.domain.conversation import ChatMessage, Role


def _message(row: MessageHistory) -> ChatMessage:
    return ChatMessage(id=row.message_id, role=Role(row.role), content=row.content, created_at=row.created_at,
                       private=row.private, source_id=row.source_id)


class SqlMessageHistory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], inbox: str) -> None:
        self._sessions = sessions
        self._inbox = inbox

    async def record(self, conversation_id: str, message: ChatMessage) -> None:
        async with self._sessions() as session:
            session.add(MessageHistory(inbox=self._inbox, conversation_id=conversation_id, message_id=message.id,
                                       role=message.role.value, content=message.content, private=message.private,
                                       source_id=message.source_id, created_at=message.created_at))
            try:
                await session.commit()
            except IntegrityError:  # the same message recorded twice is one message
                await session.rollback()

    async def list_messages(self, conversation_id: str, *, before: str | None = None,
                            limit: int = 100) -> list[ChatMessage]:
        order = (func.length(MessageHistory.message_id), MessageHistory.message_id)
        query = select(MessageHistory).where(MessageHistory.inbox == self._inbox,
                                             MessageHistory.conversation_id == conversation_id)
        if before is not None:
            query = query.where(tuple_(*order) < tuple_(func.length(before), before))
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(*(o.desc() for o in order)).limit(limit))).all()
        return [_message(row) for row in reversed(rows)]

    async def find_by_source_id(self, conversation_id: str, source_id: str) -> ChatMessage | None:
        async with self._sessions() as session:
            row = await session.scalar(select(MessageHistory).where(
                MessageHistory.inbox == self._inbox, MessageHistory.conversation_id == conversation_id,
                MessageHistory.source_id == source_id).limit(1))
        return _message(row) if row else None
