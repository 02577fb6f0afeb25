"""Broker capacity as a SQL invariant: a broker's `current_workload` never exceeds its maximum.

Taking a slot is one UPDATE whose WHERE re-checks `current_workload < max_concurrent_chats`; on
PostgreSQL a concurrent UPDATE of the same row waits and then re-evaluates that guard on the new row
version, so two transactions can never both take the last slot. Nothing reads a count into Python and
writes it back. Releases (one conversation, or every idle one at once) are guarded by the assignment's
status in the same way, so any number of workers may run them concurrently and a slot comes back once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aibroker.adapters.db.models import Broker, BrokerAssignment, Conversation, InboundMessage, utcnow
from aibroker.domain.brokers import AssignmentFacts
from aibroker.domain.conversation import BrokerRecord

ACTIVE, WAITING, RELEASED = "active", "waiting", "released"


def released_for_idleness(conversation_id: Any) -> Any:
    """EXISTS: the conversation's slot was given back for idleness and not taken again (its one assignment row)."""
    return select(BrokerAssignment.id).where(BrokerAssignment.conversation_id == conversation_id,
                                             BrokerAssignment.status == RELEASED,
                                             BrokerAssignment.release_reason == "idle").exists()


async def release_slots(session: AsyncSession, conversation_ids: list[int], *, release_reason: str) -> int:
    """`SqlCapacity.release` for many conversations inside the caller's transaction (erasure deletes the rows in
    the same one, so a slot is given back exactly when its conversation goes). Returns the slots given back."""
    if not conversation_ids:
        return 0
    result = await session.execute(
        update(BrokerAssignment)
        .where(BrokerAssignment.conversation_id.in_(conversation_ids), BrokerAssignment.status.in_([ACTIVE, WAITING]))
        .values(status=RELEASED, released_at=utcnow(), completed_at=utcnow(), release_reason=release_reason)
        .returning(BrokerAssignment.broker_id))
    freed = Counter(int(broker_id) for broker_id in result.scalars() if broker_id is not None)
    for broker_id in sorted(freed):  # one order for every caller: no deadlock between two releases
        await session.execute(update(Broker).where(Broker.id == broker_id).values(
            current_workload=case((Broker.current_workload > freed[broker_id],
                                   Broker.current_workload - freed[broker_id]), else_=0)))
    return sum(freed.values())


class SqlCapacity:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def _take_slot(self, session: AsyncSession, persona_type: str | None, now: datetime,
                         broker_id: int | None = None) -> int | None:
        """One guarded UPDATE on the best candidate: persona type (or one given broker), then lowest workload,
        then least recently active. Returns the broker id, or None when that candidate filled up meanwhile."""
        candidate = select(Broker.id).where(Broker.is_available.is_(True),
                                            Broker.current_workload < Broker.max_concurrent_chats)
        if persona_type is not None:
            candidate = candidate.where(Broker.persona_type == persona_type)
        if broker_id is not None:
            candidate = candidate.where(Broker.id == broker_id)
        candidate = candidate.order_by(Broker.current_workload, Broker.last_active.asc().nulls_first(),
                                       Broker.id).limit(1)
        result = await session.execute(
            update(Broker)
            .where(Broker.id == candidate.scalar_subquery(),
                   Broker.current_workload < Broker.max_concurrent_chats, Broker.is_available.is_(True))
            .values(current_workload=Broker.current_workload + 1, last_active=now)
            .returning(Broker.id))
        return result.scalar_one_or_none()

    async def _any_free(self, session: AsyncSession, persona_type: str | None) -> bool:
        query = select(func.count()).select_from(Broker).where(
            Broker.is_available.is_(True), Broker.current_workload < Broker.max_concurrent_chats)
        if persona_type is not None:
            query = query.where(Broker.persona_type == persona_type)
        return bool(await session.scalar(query))

    async def assign(self, conversation_id: int, persona_type: str, facts: AssignmentFacts,
                     *, preferred_broker_id: int | None = None, attempts: int = 20) -> BrokerRecord | None:
        """Assign a broker (the preferred one if it has a free slot, then persona type, then any type) or
        record the lead as waiting."""
        now = utcnow()
        async with self.sessions() as session, session.begin():
            broker_id = None
            if preferred_broker_id is not None:  # one candidate: no race to retry
                broker_id = await self._take_slot(session, None, now, preferred_broker_id)
            for wanted in (persona_type, None) if broker_id is None else ():
                for _ in range(attempts):  # a lost race means another candidate may still be free
                    broker_id = await self._take_slot(session, wanted, now)
                    if broker_id is not None or not await self._any_free(session, wanted):
                        break
                if broker_id is not None:
                    break
            existing = await session.scalar(select(BrokerAssignment).where(
                BrokerAssignment.conversation_id == conversation_id))
            row = existing or BrokerAssignment(conversation_id=conversation_id)
            row.broker_id = broker_id
            row.status = ACTIVE if broker_id is not None else WAITING
            row.lead_score, row.loan_type, row.property_type = facts.lead_score, facts.loan_type, facts.property_type
            row.monthly_income, row.timeline = facts.monthly_income, facts.timeline
            row.released_at, row.release_reason = None, None
            if existing is None:
                session.add(row)
            if broker_id is None:
                return None
            broker = await session.get(Broker, broker_id)
            assert broker is not None
            # The assigned broker speaks from now on (the persona type matched, unless all were full).
            await session.execute(update(Conversation).where(Conversation.id == conversation_id)
                                  .values(broker_id=broker_id, persona_name=broker.name))
            return BrokerRecord.model_validate(broker, from_attributes=True)

    async def released_for_handoff(self, conversation_id: int) -> bool:
        """Whether the conversation's slot was given back for a handoff (and not taken again since)."""
        async with self.sessions() as session:
            return bool(await session.scalar(select(BrokerAssignment.id).where(
                BrokerAssignment.conversation_id == conversation_id, BrokerAssignment.status == RELEASED,
                BrokerAssignment.release_reason == "handoff")))

    async def release(self, conversation_id: int, *, handoff_reason: str | None = None,
                      reason: str | None = None) -> int | None:
        """Free the conversation's slot (handoff, resolution, final failure). Idempotent: the status
        guard makes a second release a no-op. Returns the broker id that got a slot back. `reason` is
        recorded as `release_reason` (default: `handoff` with a handoff reason, `resolved` without)."""
        now = utcnow()
        values: dict[str, object] = {"status": RELEASED, "released_at": now,
                                     "release_reason": reason or ("handoff" if handoff_reason else "resolved")}
        if handoff_reason is not None:
            values.update(handoff=True, handoff_reason=handoff_reason, handoff_at=now)
        else:
            values["completed_at"] = now
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(BrokerAssignment)
                .where(BrokerAssignment.conversation_id == conversation_id,
                       BrokerAssignment.status.in_([ACTIVE, WAITING]))
                .values(**values).returning(BrokerAssignment.broker_id, BrokerAssignment.status))
            released = result.first()
            if released is None or released[0] is None:
                return None
            await session.execute(update(Broker).where(Broker.id == released[0], Broker.current_workload > 0)
                                  .values(current_workload=Broker.current_workload - 1))
            return int(released[0])

    async def release_idle(self, idle_before: datetime) -> list[int]:
        """Give back the slots of bot-owned conversations whose customer last wrote (or, if never, which were
        opened) before `idle_before`: one guarded UPDATE, so concurrent runs in many workers free each slot
        once. Returns the conversations released; their `broker_id` stays, to prefer that broker later."""
        last_customer_message = (select(func.max(InboundMessage.received_at))
                                 .where(InboundMessage.conversation_id == Conversation.id).scalar_subquery())
        idle = select(Conversation.id).where(
            Conversation.owner == "bot",
            func.coalesce(last_customer_message, Conversation.created_at) < idle_before)
        async with self.sessions() as session, session.begin():
            result = await session.execute(
                update(BrokerAssignment)
                .where(BrokerAssignment.status == ACTIVE, BrokerAssignment.conversation_id.in_(idle))
                .values(status=RELEASED, released_at=utcnow(), release_reason="idle")
                .returning(BrokerAssignment.conversation_id, BrokerAssignment.broker_id)
                .execution_options(synchronize_session=False))
            released = result.all()
            for broker_id, count in Counter(b for _, b in released if b is not None).items():
                await session.execute(update(Broker).where(Broker.id == broker_id).values(
                    current_workload=case((Broker.current_workload > count, Broker.current_workload - count),
                                          else_=0)))
        return [int(c) for c, _ in released]

    async def idle_released(self, conversation_id: int) -> bool:
        """Whether the conversation's slot was given back for idleness (and not taken again since)."""
        async with self.sessions() as session:
            return bool(await session.scalar(select(released_for_idleness(conversation_id))))

    async def waiting_conversations(self, limit: int = 50) -> list[tuple[int, int]]:
        """(conversation id, lead score) of leads waiting for a broker, best leads and oldest first."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(BrokerAssignment.conversation_id, BrokerAssignment.lead_score)
                .where(BrokerAssignment.status == WAITING)
                .order_by(BrokerAssignment.lead_score.desc(), BrokerAssignment.created_at).limit(limit))
            return [(int(c), int(s)) for c, s in rows.all()]

    async def reconcile(self) -> dict[str, int]:
        """Recompute every broker's workload from its active assignments; returns the corrections."""
        async with self.sessions() as session, session.begin():
            active = (select(func.count()).select_from(BrokerAssignment)
                      .where(and_(BrokerAssignment.broker_id == Broker.id, BrokerAssignment.status == ACTIVE))
                      .scalar_subquery())
            # Lock the broker rows first: in-flight assignments commit before we count, and the count
            # below (a new statement, so a new snapshot under READ COMMITTED) includes them.
            before = dict((await session.execute(select(Broker.name, Broker.current_workload)
                                                 .with_for_update())).all())
            await session.execute(update(Broker).values(current_workload=active))
            after = dict((await session.execute(select(Broker.name, Broker.current_workload))).all())
        return {name: after[name] - before[name] for name in after if after[name] != before[name]}

    async def open_assignments_by_broker(self) -> dict[int, int]:
        async with self.sessions() as session:
            rows = await session.execute(select(BrokerAssignment.broker_id, func.count())
                                         .where(BrokerAssignment.status == ACTIVE)
                                         .group_by(BrokerAssignment.broker_id))
            return {int(b): int(n) for b, n in rows.all() if b is not None}

    async def assignment_status(self, conversation_id: int) -> str | None:
        async with self.sessions() as session:
            return await session.scalar(select(BrokerAssignment.status)
                                        .where(BrokerAssignment.conversation_id == conversation_id))
