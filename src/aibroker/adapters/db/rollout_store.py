"""SQL for the n8n migration: run-time switches and their audit, legacy forwards, shadow replies, routing figures.

Each method is one short transaction; "exactly once" rests on the unique constraints (`_insert_once`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.models import Conversation, InboundMessage, ReplyLedgerEntry, utcnow
from aibroker.adapters.db.rollout_models import LegacyForward, RolloutAudit, RolloutStateRow, ShadowReply
from aibroker.adapters.db.store import SqlStore
from aibroker.domain.conversation import ConversationRecord, ConversationStatus, Owner
from aibroker.domain.rollout import Route, Switches

SWITCH_FIELDS = ("enable_ai_broker", "enable_bullmq_broker", "rollout_percentage", "shadow_mode")


class SqlRolloutStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._once = SqlStore(sessions)  # for its `_insert_once`, the idempotency primitive

    # --- switches ------------------------------------------------------------------------------------
    async def load_switches(self) -> tuple[Switches, dict[str, Any]] | None:
        """The run-time switches and who set them when, or None while only the environment has spoken."""
        async with self.sessions() as session:
            row = await session.get(RolloutStateRow, 1)
            if row is None:
                return None
            switches = Switches(**{name: getattr(row, name) for name in SWITCH_FIELDS})
            return switches, {"updated_at": row.updated_at.isoformat(), "updated_by": row.updated_by}

    async def save_switches(self, before: Switches, after: Switches, actor: str) -> dict[str, Any]:
        """Store `after` and an audit row listing what changed; returns the changes."""
        changes = {name: [getattr(before, name), getattr(after, name)] for name in SWITCH_FIELDS
                   if getattr(before, name) != getattr(after, name)}
        values = {name: getattr(after, name) for name in SWITCH_FIELDS}
        async with self.sessions() as session, session.begin():
            row = await session.get(RolloutStateRow, 1, with_for_update=True)
            if row is None:
                session.add(RolloutStateRow(id=1, updated_by=actor, updated_at=utcnow(), **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                row.updated_by, row.updated_at = actor, utcnow()
            session.add(RolloutAudit(actor=actor, changes=changes, changed_at=utcnow()))
        return changes

    async def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(RolloutAudit).order_by(RolloutAudit.id.desc()).limit(limit))).all()
            return [{"at": r.changed_at.isoformat(), "actor": r.actor, "changes": r.changes} for r in rows]

    # --- legacy forwards -----------------------------------------------------------------------------
    async def record_forward(self, conversation_id: int, message_id: str, payload: dict[str, Any]) -> bool:
        """True the first time this message is seen: only then is it new work."""
        return await self._once._insert_once(LegacyForward(conversation_id=conversation_id, message_id=message_id,
                                                           payload=payload, attempts=0))

    async def forward_of(self, conversation_id: int, message_id: str) -> tuple[dict[str, Any], bool] | None:
        """(payload, already forwarded) of a recorded message."""
        async with self.sessions() as session:
            row = await session.scalar(select(LegacyForward).where(
                LegacyForward.conversation_id == conversation_id, LegacyForward.message_id == message_id))
            return (dict(row.payload), row.forwarded_at is not None) if row else None

    async def earlier_unforwarded(self, conversation_id: int, message_id: str) -> bool:
        """Whether a message of this conversation recorded before this one still waits to be forwarded."""
        async with self.sessions() as session:
            this = select(LegacyForward.id).where(LegacyForward.conversation_id == conversation_id,
                                                  LegacyForward.message_id == message_id).scalar_subquery()
            earlier = await session.scalar(select(LegacyForward.id).where(
                LegacyForward.conversation_id == conversation_id, LegacyForward.id < this,
                LegacyForward.forwarded_at.is_(None)).limit(1))
            return earlier is not None

    async def mark_forwarded(self, conversation_id: int, message_id: str, *, error: str | None = None) -> None:
        values: dict[str, Any] = {"attempts": LegacyForward.attempts + 1, "last_error": error,
                                  "last_attempt_at": utcnow()}
        if error is None:
            values["forwarded_at"] = utcnow()
        async with self.sessions() as session, session.begin():
            await session.execute(update(LegacyForward).where(
                LegacyForward.conversation_id == conversation_id, LegacyForward.message_id == message_id,
                LegacyForward.forwarded_at.is_(None)).values(**values))

    async def failing_forwards(self) -> int:
        """Messages whose forward has failed at least once and not yet succeeded."""
        async with self.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(LegacyForward).where(
                LegacyForward.forwarded_at.is_(None), LegacyForward.attempts > 0))
            return int(count or 0)

    async def unforwarded(self, *, received_before: datetime, received_after: datetime,
                          attempted_before: datetime, limit: int = 200) -> list[tuple[int, str]]:
        """Messages not forwarded yet, never attempted or last attempted before `attempted_before` (a job in its
        backoff is left alone; one that failed for good is tried again, and shows in the failed list meanwhile)."""
        async with self.sessions() as session:
            rows = await session.execute(select(LegacyForward.conversation_id, LegacyForward.message_id).where(
                LegacyForward.forwarded_at.is_(None), LegacyForward.received_at < received_before,
                LegacyForward.received_at > received_after,
                or_(LegacyForward.last_attempt_at.is_(None), LegacyForward.last_attempt_at < attempted_before))
                .order_by(LegacyForward.id).limit(limit))
            return [(int(c), str(m)) for c, m in rows.all()]

    # --- shadow replies ------------------------------------------------------------------------------
    async def record_shadow(self, conversation_id: int, message_id: str, *, reply: str, source: str,
                            latency_ms: int, handoff_reason: str | None) -> bool:
        return await self._once._insert_once(ShadowReply(
            conversation_id=conversation_id, message_id=message_id, reply=reply, source=source,
            latency_ms=latency_ms, handoff_reason=handoff_reason))

    async def match_legacy_reply(self, conversation_id: int, legacy_message_id: str, text: str) -> bool:
        """Pair the legacy workflow's reply with the latest shadow reply still waiting for one."""
        async with self.sessions() as session, session.begin():
            waiting = await session.scalar(select(ShadowReply.id).where(
                ShadowReply.conversation_id == conversation_id, ShadowReply.legacy_message_id.is_(None))
                .order_by(ShadowReply.id.desc()).limit(1))
            if waiting is None:
                return False
            await session.execute(update(ShadowReply).where(ShadowReply.id == waiting).values(
                legacy_message_id=legacy_message_id, legacy_reply=text, legacy_at=utcnow()))
            return True

    async def shadow_replies(self, conversation_id: int) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            rows = (await session.scalars(select(ShadowReply).where(ShadowReply.conversation_id == conversation_id)
                                          .order_by(ShadowReply.id))).all()
            return [{"message_id": r.message_id, "reply": r.reply, "source": r.source, "latency_ms": r.latency_ms,
                     "handoff_reason": r.handoff_reason, "legacy_message_id": r.legacy_message_id,
                     "legacy_reply": r.legacy_reply} for r in rows]

    # --- figures for migration status ----------------------------------------------------------------
    async def routed_since(self, since: datetime) -> dict[str, dict[str, Any]]:
        """Conversations opened and customer messages received since `since`, per route."""
        route = func.coalesce(Conversation.route, Route.AIBROKER.value)
        async with self.sessions() as session:
            conversations = dict((await session.execute(
                select(route, func.count()).where(Conversation.created_at >= since).group_by(route))).all())
            ours = dict((await session.execute(
                select(route, func.count()).select_from(InboundMessage)
                .join(Conversation, Conversation.id == InboundMessage.conversation_id)
                .where(InboundMessage.received_at >= since).group_by(route))).all())
            legacy = await session.scalar(select(func.count()).select_from(LegacyForward)
                                          .where(LegacyForward.received_at >= since))
            failed = await session.scalar(select(func.count()).select_from(ReplyLedgerEntry).where(
                ReplyLedgerEntry.claimed_at >= since, ReplyLedgerEntry.note == "job_failed"))
            answered = await session.scalar(select(func.count()).select_from(ReplyLedgerEntry).where(
                ReplyLedgerEntry.claimed_at >= since, ReplyLedgerEntry.state != "claimed"))
            unforwarded = await session.scalar(select(func.count()).select_from(LegacyForward).where(
                LegacyForward.received_at >= since, LegacyForward.forwarded_at.is_(None),
                LegacyForward.attempts > 0))
            shadows = await session.execute(select(func.count(), func.count(ShadowReply.legacy_message_id))
                                            .where(ShadowReply.created_at >= since))
            shadow_total, shadow_matched = shadows.one()
            latencies = (await session.scalars(select(ShadowReply.latency_ms)
                                               .where(ShadowReply.created_at >= since))).all()
        return {
            "conversations": {r.value: int(conversations.get(r.value, 0)) for r in Route},
            "messages": {Route.AIBROKER.value: int(sum(v for k, v in ours.items() if k != Route.LEGACY.value)),
                         Route.LEGACY.value: int(legacy or 0)},
            "replies": {"finished": int(answered or 0), "failed_jobs": int(failed or 0),
                        "forwards_failing": int(unforwarded or 0)},
            "shadow": {"replies": int(shadow_total or 0), "matched_with_legacy": int(shadow_matched or 0),
                       "latencies_ms": [int(x) for x in latencies]},
        }


class SqlAdoptionStore:
    """Adopting an inbox conversation exactly once: the (inbox, inbox_conversation_id) unique constraint decides."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def create_once(self, **fields: Any) -> tuple[ConversationRecord, bool]:
        """(the conversation, whether this call created it); a concurrent first message gets the winner's row."""
        created = await self._store._insert_once(Conversation(owner=Owner.BOT.value,
                                                             status=ConversationStatus.PENDING.value, **fields))
        record = await self._store.find_by_inbox_id(fields["inbox"], fields["inbox_conversation_id"])
        assert record is not None
        return record, created


async def reply_latencies_ms(sessions: async_sessionmaker[AsyncSession], since: datetime,
                             limit: int = 5000) -> list[int]:
    """From a customer message's acceptance to aibroker's sent reply, for messages answered since `since`."""
    query = (select(InboundMessage.received_at, ReplyLedgerEntry.completed_at)
             .join(ReplyLedgerEntry, (ReplyLedgerEntry.conversation_id == InboundMessage.conversation_id)
                   & (ReplyLedgerEntry.key == literal("message:") + InboundMessage.message_id))
             .where(ReplyLedgerEntry.state == "sent", ReplyLedgerEntry.completed_at >= since)
             .order_by(ReplyLedgerEntry.id.desc()).limit(limit))
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    return [max(0, int((done - received).total_seconds() * 1000)) for received, done in rows if done and received]
