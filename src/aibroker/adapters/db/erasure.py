"""Deleting a person's data (by e-mail) or old conversations (by age) from every table that holds it.

SQL Core deletes, children before parents (foreign keys), in one transaction per target that also gives back the
broker slots of the conversations' open assignments: a slot is freed exactly when its conversation goes, so
workloads stay right whatever fails. Works on SQLite and PostgreSQL alike (no dialect-specific SQL).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from aibroker.adapters.db.capacity import release_slots
from aibroker.adapters.db.models import (
    BrokerAssignment,
    ChatEvent,
    Conversation,
    InboundMessage,
    InboxContact,
    InboxConversation,
    InboxMessage,
    MessageHistory,
    ReplyLedgerEntry,
)
from aibroker.domain.erasure import ConversationRef, ErasureCounts, ErasureTarget
from aibroker.domain.privacy import email_hash

BUILTIN = "builtin"  # the built-in inbox's name (adapters/inbox/builtin.py): its ids are our inbox_* rows


def _ints(values: set[str]) -> set[int]:
    return {int(v) for v in values if v.isdigit()}


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class SqlErasure:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- finding --------------------------------------------------------------------------------------
    async def find_by_email(self, addresses: list[str]) -> ErasureTarget:
        """Everything of the person with one of these (lower-cased) addresses: conversations by e-mail hash, or by
        the lead form's e-mail where no hash was stored (older rows); built-in inbox contacts by e-mail, with all
        their inbox conversations and ours."""
        lowered = sorted({a.lower() for a in addresses})
        async with self._sessions() as session:
            contacts = set(await session.scalars(select(InboxContact.id)
                                                 .where(func.lower(InboxContact.email).in_(lowered))))
            lead_email = func.lower(Conversation.lead["email"].as_string())
            matches: ColumnElement[bool] = or_(
                Conversation.email_hash.in_([email_hash(a) for a in lowered]),
                and_(Conversation.email_hash.is_(None), lead_email.in_(lowered)))
            refs = await self._refs(session, matches)
            # Close over the built-in inbox: the contacts of those conversations, every inbox conversation of
            # those contacts, and our conversations on them (two rounds reach everything one contact links to).
            inbox_conversations: set[int] = set()
            for _ in range(2):
                contacts |= _ints({r.inbox_contact_id for r in refs.values() if r.inbox == BUILTIN})
                inbox_conversations |= _ints({r.inbox_conversation_id for r in refs.values() if r.inbox == BUILTIN})
                if contacts:
                    inbox_conversations |= set(await session.scalars(
                        select(InboxConversation.id).where(InboxConversation.contact_id.in_(contacts))))
                if inbox_conversations:
                    refs |= await self._refs(session, and_(
                        Conversation.inbox == BUILTIN,
                        Conversation.inbox_conversation_id.in_([str(i) for i in inbox_conversations])))
        return ErasureTarget(conversations=sorted(refs.values(), key=lambda r: r.id),
                             inbox_conversation_ids=sorted(inbox_conversations), inbox_contact_ids=sorted(contacts))

    async def find_inactive(self, before: datetime, limit: int) -> ErasureTarget:
        """Up to `limit` conversations with no activity since `before`, their built-in inbox conversations, and
        built-in inbox conversations and contacts older than that which nothing of ours refers to."""
        async with self._sessions() as session:
            refs = await self._refs(session, Conversation.last_activity_at < before, limit=limit)
            inbox_conversations = _ints({r.inbox_conversation_id for r in refs.values() if r.inbox == BUILTIN})
            ours = exists().where(Conversation.inbox == BUILTIN,
                                  Conversation.inbox_conversation_id == cast(InboxConversation.id, String))
            inbox_conversations |= set(await session.scalars(
                select(InboxConversation.id).where(InboxConversation.created_at < before, ~ours)
                .order_by(InboxConversation.id).limit(limit)))
            has_conversation = exists().where(InboxConversation.contact_id == InboxContact.id)
            contacts = set(await session.scalars(
                select(InboxContact.id).where(InboxContact.created_at < before, ~has_conversation)
                .order_by(InboxContact.id).limit(limit)))
        return ErasureTarget(conversations=sorted(refs.values(), key=lambda r: r.id),
                             inbox_conversation_ids=sorted(inbox_conversations), inbox_contact_ids=sorted(contacts))

    @staticmethod
    async def _refs(session: AsyncSession, where: ColumnElement[bool],
                    limit: int | None = None) -> dict[int, ConversationRef]:
        query = select(Conversation.id, Conversation.inbox, Conversation.inbox_conversation_id,
                       Conversation.inbox_contact_id).where(where).order_by(Conversation.id)
        if limit is not None:
            query = query.limit(limit)
        rows = (await session.execute(query)).all()
        return {int(r.id): ConversationRef(id=r.id, inbox=r.inbox, inbox_conversation_id=r.inbox_conversation_id,
                                           inbox_contact_id=r.inbox_contact_id) for r in rows}

    # --- deleting -------------------------------------------------------------------------------------
    async def delete(self, target: ErasureTarget, *, release_reason: str = "erased") -> ErasureCounts:
        """Delete the target in one transaction; contacts only once no inbox conversation of theirs is left (one
        opened meanwhile by a new lead keeps its contact: erasing again removes both)."""
        counts = ErasureCounts()
        ids = target.conversation_ids
        inbox_ids = target.inbox_conversation_ids
        deleted = counts.deleted
        async with self._sessions() as session, session.begin():
            counts.broker_slots_released = await release_slots(session, ids, release_reason=release_reason)
            if ids:
                for model in (ReplyLedgerEntry, InboundMessage, BrokerAssignment, ChatEvent):
                    deleted[model.__tablename__] = _count(await session.execute(
                        delete(model).where(model.conversation_id.in_(ids))))
                by_inbox: dict[str, list[str]] = defaultdict(list)
                for ref in target.conversations:
                    by_inbox[ref.inbox].append(ref.inbox_conversation_id)
                for inbox, inbox_conversation_ids in by_inbox.items():
                    deleted["message_history"] += _count(await session.execute(delete(MessageHistory).where(
                        MessageHistory.inbox == inbox, MessageHistory.conversation_id.in_(inbox_conversation_ids))))
                deleted["conversations"] = _count(await session.execute(
                    delete(Conversation).where(Conversation.id.in_(ids))))
            contacts = set(target.inbox_contact_ids)
            if inbox_ids:
                contacts |= set(await session.scalars(select(InboxConversation.contact_id)
                                                      .where(InboxConversation.id.in_(inbox_ids))))
                deleted["inbox_messages"] = _count(await session.execute(
                    delete(InboxMessage).where(InboxMessage.conversation_id.in_(inbox_ids))))
                deleted["inbox_conversations"] = _count(await session.execute(
                    delete(InboxConversation).where(InboxConversation.id.in_(inbox_ids))))
            if contacts:
                left = exists().where(InboxConversation.contact_id == InboxContact.id)
                deleted["inbox_contacts"] = _count(await session.execute(
                    delete(InboxContact).where(InboxContact.id.in_(sorted(contacts)), ~left)))
        return counts
