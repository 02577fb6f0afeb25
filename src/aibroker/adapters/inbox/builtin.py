"""The built-in inbox: conversations and messages in our own database, for deployments without Chatwoot.

It behaves like Chatwoot where the use cases can tell (statuses, tagged outgoing messages, private notes,
attribute merging), so one contract test suite covers both.

The typing indicator is presence, not a record: it lives in Redis with an expiry, as Chatwoot keeps it out of its
database too. So a reply costs no database writes for it, and an indicator left on by a worker that died mid-reply
goes off by itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.engine import engine_of, one_statement
from aibroker.adapters.db.models import InboxContact, InboxConversation, InboxMessage, utcnow
from aibroker.adapters.queue.redis_budget import bounded
from aibroker.domain.conversation import ChatMessage, ContactInfo, ConversationStatus, Role
from aibroker.domain.ports import SendGuard
from aibroker.errors import NotFound, TransientInboxError

TYPING_TTL_S = 300  # longer than any reply takes to generate; then an indicator nobody turned off goes off
TYPING_TIMEOUT_S = 2.0  # cosmetic: a slow Redis must not hold up a reply or a page for long


def typing_key(prefix: str, inbox_conversation_id: str) -> str:
    """The Redis key that holds a built-in inbox conversation's typing indicator (`*` as the id: all of them)."""
    return f"{prefix}:aibroker:typing:{inbox_conversation_id}"


def _to_chat_message(row: Any) -> ChatMessage:
    """From an ORM row or a Core row of inbox_messages (same names)."""
    role = Role.SYSTEM if row.activity else Role(row.role)
    return ChatMessage(id=str(row.id), role=role, content=row.content, created_at=row.created_at,
                       private=row.private, source_id=row.source_id)


class BuiltinInbox:
    name = "builtin"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: aioredis.Redis, prefix: str) -> None:
        self._sessions = sessions
        # (the reply path's reads and writes: single Core statements, see engine_of and one_statement)
        self._one_statement = one_statement(engine_of(sessions))
        self._redis = redis
        self._prefix = prefix

    async def find_or_create_contact(self, contact: ContactInfo) -> str:
        email = contact.email.lower() if contact.email else None
        for _ in range(2):  # a concurrent insert of the same e-mail loses the race once, then finds the row
            async with self._sessions() as session:
                if email:
                    found = await session.scalar(select(InboxContact.id).where(InboxContact.email == email))
                    if found is not None:
                        return str(found)
                row = InboxContact(name=contact.name, email=email, phone=contact.phone)
                session.add(row)
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                    continue
                return str(row.id)
        raise RuntimeError("contact insert kept conflicting")  # pragma: no cover

    async def create_conversation(self, contact_id: str, attributes: Mapping[str, Any]) -> str:
        async with self._sessions() as session, session.begin():
            row = InboxConversation(contact_id=int(contact_id), attributes=dict(attributes), labels=[],
                                    status=ConversationStatus.PENDING.value)
            session.add(row)
        return str(row.id)

    async def _add_message(self, conversation_id: str, role: Role, content: str, *, source_id: str | None = None,
                           private: bool = False, activity: bool = False) -> ChatMessage:
        """Insert first (one statement): a tagged message already there (the same tag twice is one message, as in
        Chatwoot) or an unknown conversation shows up as the insert's IntegrityError."""
        inbox_id = _inbox_id(conversation_id)
        values = {"conversation_id": inbox_id, "role": role.value, "content": content, "source_id": source_id,
                  "private": private, "activity": activity, "created_at": utcnow()}
        try:
            async with self._one_statement.begin() as connection:
                result = await connection.execute(_ADD_MESSAGE, values)
            (message_id,) = result.inserted_primary_key or (None,)
            return _to_chat_message(SimpleNamespace(id=message_id, **values))
        except IntegrityError as error:
            async with self._sessions() as session:
                existing = await session.scalar(select(InboxMessage).where(
                    InboxMessage.conversation_id == inbox_id, InboxMessage.source_id == source_id)) \
                    if source_id is not None else None
                if existing is not None:
                    return _to_chat_message(existing)
                await self._conversation(session, conversation_id)  # NotFound; else the error was something else
                raise error

    async def post_customer_message(self, conversation_id: str, content: str, *,
                                    client_message_id: str | None = None) -> ChatMessage:
        source_id = f"client:{client_message_id}" if client_message_id else None
        return await self._add_message(conversation_id, Role.CUSTOMER, content, source_id=source_id)

    async def send_message(self, conversation_id: str, content: str, *, source_id: str, private: bool = False,
                           guard: SendGuard | None = None) -> ChatMessage:
        if guard is not None:
            await guard()
        return await self._add_message(conversation_id, Role.BOT, content, source_id=source_id, private=private)

    async def post_human_message(self, conversation_id: str, content: str, *,
                                 client_message_id: str | None = None) -> ChatMessage:
        """A reply typed by a human agent (the console). The same `client_message_id` twice (a retried request)
        is one message."""
        source_id = f"agent:{client_message_id}" if client_message_id else None
        return await self._add_message(conversation_id, Role.HUMAN, content, source_id=source_id)

    async def post_activity(self, conversation_id: str, content: str, *, internal: bool = False) -> None:
        await self._add_message(conversation_id, Role.SYSTEM, content, activity=True, private=internal)

    def _typing_key(self, conversation_id: str) -> str:
        return typing_key(self._prefix, str(_inbox_id(conversation_id)))

    async def set_typing(self, conversation_id: str, on: bool) -> None:
        key = self._typing_key(conversation_id)
        try:
            async with bounded(TYPING_TIMEOUT_S):
                await (self._redis.set(key, "1", ex=TYPING_TTL_S) if on else self._redis.delete(key))
        except (TimeoutError, RedisError, OSError) as error:
            raise TransientInboxError(f"typing indicator not stored: {type(error).__name__}") from error

    async def is_typing(self, conversation_id: str) -> bool:
        try:
            async with bounded(TYPING_TIMEOUT_S):
                return bool(await self._redis.exists(self._typing_key(conversation_id)))
        except (TimeoutError, RedisError, OSError) as error:
            raise TransientInboxError(f"typing indicator not read: {type(error).__name__}") from error

    async def set_status(self, conversation_id: str, status: ConversationStatus) -> None:
        async with self._sessions() as session, session.begin():
            (await self._conversation(session, conversation_id)).status = status.value

    async def merge_attributes(self, conversation_id: str, attributes: Mapping[str, Any]) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await self._conversation(session, conversation_id)
            conversation.attributes = {**conversation.attributes, **attributes}

    async def add_labels(self, conversation_id: str, labels: list[str]) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await self._conversation(session, conversation_id)
            conversation.labels = sorted({*conversation.labels, *labels})

    async def list_messages(self, conversation_id: str, *, before: str | None = None,
                            limit: int = 100) -> list[ChatMessage]:
        query, params = (_LATEST, {}) if before is None else (_LATEST_BEFORE, {"before": int(before)})
        async with self._one_statement.connect() as connection:
            rows = (await connection.execute(query, {"conversation_id": _inbox_id(conversation_id), "limit": limit,
                                                     **params})).all()
        if not rows:  # (only then: is there such a conversation at all?)
            async with self._sessions() as session:
                await self._conversation(session, conversation_id)
        return [_to_chat_message(row) for row in reversed(rows)]

    async def find_sent_message(self, conversation_id: str, source_id: str) -> ChatMessage | None:
        async with self._sessions() as session:
            row = await session.scalar(select(InboxMessage).where(
                InboxMessage.conversation_id == _inbox_id(conversation_id), InboxMessage.source_id == source_id))
            if row is None:
                await self._conversation(session, conversation_id)
        return _to_chat_message(row) if row else None

    async def status_of(self, conversation_id: str) -> ConversationStatus:
        async with self._sessions() as session:
            return ConversationStatus((await self._conversation(session, conversation_id)).status)

    async def aclose(self) -> None:
        return None

    @staticmethod
    async def _conversation(session: AsyncSession, conversation_id: str) -> InboxConversation:
        row = await session.get(InboxConversation, int(conversation_id)) if conversation_id.isdigit() else None
        if row is None:
            raise NotFound(f"inbox conversation {conversation_id} not found")
        return row


# The reply path's statements, built once (building one costs more CPU than running it: adapters/db/store.py).
_ADD_MESSAGE = insert(InboxMessage)
_LATEST = (select(*InboxMessage.__table__.c).where(InboxMessage.conversation_id == bindparam("conversation_id"))
           .order_by(InboxMessage.id.desc()).limit(bindparam("limit")))
_LATEST_BEFORE = _LATEST.where(InboxMessage.id < bindparam("before"))


def _inbox_id(conversation_id: str) -> int:
    """Our inbox's ids are integers; any other id names no conversation (-1 matches no row)."""
    return int(conversation_id) if conversation_id.isdigit() else -1
