"""The analytics report (domain/analytics.py) in SQL, on PostgreSQL and SQLite alike.

Every figure is an aggregate computed by the database over an indexed window (`reply_ledger.completed_at`,
`conversations.created_at`, `chat_events(type, created_at)`: migration 0006_ops); only the grouped results
travel to Python. Percentiles: `percentile_disc` on PostgreSQL; on SQLite, which has no ordered-set
aggregates, window ranks (`row_number` over the sorted values) picking the same nearest-rank value.
bench/analytics.py times the whole report at a million events on both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, Select, and_, case, cast, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from aibroker.adapters.db.models import Broker, ChatEvent, Conversation, InboundMessage, ReplyLedgerEntry
from aibroker.domain.analytics import (
    AGENT_REPLIED,
    PERCENTILES,
    AnalyticsReport,
    BucketFigures,
    GroupFigures,
    HumanWait,
    LatencyStats,
    Window,
    share,
)

JOB_FAILED = "job_failed"  # the ledger note of a reply whose job ran out of attempts (usecases/replies.py)
HANDOFF_EVENTS = ("handoff", "owner:human")
HUMAN_MESSAGE = "message:human"
NO_BROKER = "(no broker)"
Stats = dict[Any, LatencyStats]


class SqlAnalytics:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def report(self, window: Window, *, now: datetime, sla_ms: int) -> AnalyticsReport:
        started = time.perf_counter()
        since = now - window.span
        async with self._sessions() as session:
            query = _Queries(session, since, now, window.bucket_s, sla_ms)
            report = await query.report(window)
        report.query_ms = round((time.perf_counter() - started) * 1000)
        return report


class _Queries:
    """One report's queries, sharing the window, the dialect's expressions and the session."""

    def __init__(self, session: AsyncSession, since: datetime, until: datetime, bucket_s: int, sla_ms: int) -> None:
        self.session = session
        self.since, self.until, self.bucket_s, self.sla_ms = since, until, bucket_s, sla_ms
        self.postgres = session.get_bind().dialect.name == "postgresql"

    # --- dialect expressions ---------------------------------------------------------------------------
    def millis(self, later: Any, earlier: Any) -> ColumnElement[float]:
        if self.postgres:
            return cast(func.extract("epoch", later - earlier), Float) * 1000.0
        # Julian days carry float noise of ~1e-5 ms: rounded to whole milliseconds, 5000 ms is not a breach of 5 s.
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86_400_000.0)

    def bucket(self, column: Any) -> ColumnElement[int]:
        if self.postgres:
            return cast(func.floor(func.extract("epoch", column) / self.bucket_s), Integer)
        return cast(func.strftime("%s", column), Integer) // self.bucket_s

    def in_window(self, column: Any) -> ColumnElement[bool]:
        return and_(column >= self.since, column < self.until)

    # --- building blocks ---------------------------------------------------------------------------------
    def groupings(self, at: Any) -> dict[str, Any]:
        return {"all": literal("all"), "persona": Conversation.persona_name,
                "broker": func.coalesce(Broker.name, NO_BROKER), "bucket": self.bucket(at)}

    async def counts(self, base: Select[Any], at: Any, only: tuple[str, ...] = ()) -> dict[str, dict[Any, int]]:
        """COUNT(*) of `base` (joined to its conversation and broker) grouped each way of `groupings`."""
        result: dict[str, dict[Any, int]] = {}
        for name, key in self.groupings(at).items():
            if only and name not in only:
                continue
            statement = base.with_only_columns(key.label("g"), func.count().label("n")).group_by(key)
            result[name] = {row.g: int(row.n) for row in await self.session.execute(statement)}
        return result

    async def stats(self, values: Select[Any] | Any, breach_ms: float | None) -> Stats:
        """Count, percentiles, max and SLA breaches of `values` (columns `g`, `v`), per group `g`."""
        sub = values.subquery()
        breaches = func.sum(case((sub.c.v > breach_ms, 1), else_=0)) if breach_ms is not None else literal(0)
        if self.postgres:
            ranks: list[Any] = [func.percentile_disc(p).within_group(sub.c.v) for p in PERCENTILES]
            statement = select(sub.c.g, func.count(), *ranks, func.max(sub.c.v), breaches).group_by(sub.c.g)
        else:
            ranked = select(sub.c.g, sub.c.v, func.row_number().over(partition_by=sub.c.g, order_by=sub.c.v)
                            .label("rn"), func.count().over(partition_by=sub.c.g).label("n")).subquery()
            # Nearest rank in whole percents, so no floating-point rounding moves a rank: rn·100 ≥ p·100·n.
            ranks = [func.min(case((ranked.c.rn * 100 >= round(p * 100) * ranked.c.n, ranked.c.v)))
                     for p in PERCENTILES]
            breaches = func.sum(case((ranked.c.v > breach_ms, 1), else_=0)) if breach_ms is not None \
                else literal(0)
            statement = select(ranked.c.g, func.count(), *ranks, func.max(ranked.c.v), breaches).group_by(ranked.c.g)
        out: Stats = {}
        for g, n, p50, p95, p99, top, over in await self.session.execute(statement):
            count, over = int(n), int(over or 0)
            out[g] = LatencyStats(count=count, p50_ms=_ms(p50), p95_ms=_ms(p95), p99_ms=_ms(p99), max_ms=_ms(top),
                                  breaches=over, breach_share=share(over, count) if breach_ms is not None else None)
        return out

    # --- the figures ---------------------------------------------------------------------------------------
    def conversations(self) -> Select[Any]:
        return (select(Conversation.id).outerjoin(Broker, Broker.id == Conversation.broker_id)
                .where(self.in_window(Conversation.created_at), Conversation.is_test.is_(false())))

    def ledger(self) -> Select[Any]:
        return (select(ReplyLedgerEntry.id)
                .join(Conversation, Conversation.id == ReplyLedgerEntry.conversation_id)
                .outerjoin(Broker, Broker.id == Conversation.broker_id)
                .where(self.in_window(ReplyLedgerEntry.completed_at), Conversation.is_test.is_(false())))

    def replies(self, group: ColumnElement[Any]) -> Select[Any]:
        """(g, latency ms) of every customer message answered in the window."""
        inbound = and_(InboundMessage.conversation_id == ReplyLedgerEntry.conversation_id,
                       InboundMessage.message_id == func.substr(ReplyLedgerEntry.key, len("message:") + 1))
        return (self.ledger().join(InboundMessage, inbound)
                .where(ReplyLedgerEntry.state == "sent", ReplyLedgerEntry.key.like("message:%"),
                       or_(ReplyLedgerEntry.note.is_(None), ReplyLedgerEntry.note != JOB_FAILED))
                .with_only_columns(group.label("g"),
                                   self.millis(ReplyLedgerEntry.completed_at, InboundMessage.received_at).label("v")))

    def handoffs(self) -> Select[Any]:
        return (select(ChatEvent.id).join(Conversation, Conversation.id == ChatEvent.conversation_id)
                .outerjoin(Broker, Broker.id == Conversation.broker_id)
                .where(ChatEvent.type.in_(HANDOFF_EVENTS), self.in_window(ChatEvent.created_at),
                       Conversation.is_test.is_(false())))

    async def report(self, window: Window) -> AnalyticsReport:
        groups = self.groupings(ReplyLedgerEntry.completed_at)
        latency = {name: await self.stats(self.replies(key), self.sla_ms) for name, key in groups.items()}
        greeting_values = (self.ledger().where(ReplyLedgerEntry.key == "greeting", ReplyLedgerEntry.state == "sent",
                                               ReplyLedgerEntry.note.is_(None))
                           .with_only_columns(literal("all").label("g"),
                                              self.millis(ReplyLedgerEntry.completed_at, Conversation.created_at)
                                              .label("v")))
        greeting = (await self.stats(greeting_values, self.sla_ms)).get("all", LatencyStats())
        started = await self.counts(self.conversations(), Conversation.created_at)
        handed = await self.counts(self.handoffs(), ChatEvent.created_at)
        finished = await self.counts(self.ledger(), ReplyLedgerEntry.completed_at, only=("all",))
        failed = await self.counts(self.ledger().where(ReplyLedgerEntry.note == JOB_FAILED),
                                   ReplyLedgerEntry.completed_at, only=("all", "bucket"))
        reason = case((ChatEvent.type == "owner:human", AGENT_REPLIED), else_=ChatEvent.payload["reason"].as_string())
        by_reason = {str(row.g): int(row.n) for row in await self.session.execute(
            self.handoffs().with_only_columns(reason.label("g"), func.count().label("n")).group_by(reason))}

        conversations, handoffs = started["all"].get("all", 0), handed["all"].get("all", 0)
        jobs, failures = finished["all"].get("all", 0), failed["all"].get("all", 0)
        reply = latency["all"].get("all", LatencyStats())
        return AnalyticsReport(
            window=window, since=self.since, until=self.until, bucket_s=self.bucket_s, sla_ms=self.sla_ms,
            conversations_started=conversations, messages_answered=reply.count, reply_latency=reply,
            greeting_latency=greeting, handoffs=handoffs, handoffs_by_reason=by_reason,
            handoff_rate=share(handoffs, conversations), jobs_finished=jobs, failed_jobs=failures,
            failure_rate=share(failures, jobs), waiting_for_human=await self.human_wait(),
            per_persona=_groups(started["persona"], latency["persona"], handed["persona"]),
            per_broker=_groups(started["broker"], latency["broker"], handed["broker"]),
            series=self.series(started["bucket"], latency["bucket"], handed["bucket"], failed["bucket"]))

    async def human_wait(self) -> HumanWait:
        """Handoffs in the window: how long until a human's first message, and who is still waiting."""
        later = ChatEvent.__table__.alias("later")
        first_human = (select(func.min(later.c.created_at))
                       .where(later.c.conversation_id == ChatEvent.conversation_id, later.c.type == HUMAN_MESSAGE,
                              later.c.created_at > ChatEvent.created_at)
                       .correlate(ChatEvent).scalar_subquery())
        waits = (self.handoffs().where(ChatEvent.type == "handoff")
                 .with_only_columns(ChatEvent.created_at.label("at"), first_human.label("answered_at"),
                                    Conversation.owner.label("owner"), Conversation.status.label("status"))
                 .subquery())
        answered = (select(literal("all").label("g"), self.millis(waits.c.answered_at, waits.c.at).label("v"))
                    .where(waits.c.answered_at.is_not(None)))
        wait = (await self.stats(answered, None)).get("all", LatencyStats())
        open_wait = and_(waits.c.answered_at.is_(None), waits.c.owner == "human", waits.c.status != "resolved")
        total, still, oldest = (await self.session.execute(select(
            func.count(), func.sum(case((open_wait, 1), else_=0)),
            func.min(case((open_wait, waits.c.at)))))).one()
        longest = None
        if oldest is not None:
            oldest = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
            longest = round((self.until - oldest.replace(tzinfo=oldest.tzinfo or UTC)).total_seconds() * 1000)
        return HumanWait(handed_off=int(total), answered=wait.count, wait=wait, still_waiting=int(still or 0),
                         longest_waiting_ms=longest)

    def series(self, started: Mapping[Any, int], latency: Stats, handed: Mapping[Any, int],
               failed: Mapping[Any, int]) -> list[BucketFigures]:
        first = int(self.since.timestamp()) // self.bucket_s
        last = (int(self.until.timestamp()) - 1) // self.bucket_s
        out = []
        for index in range(first, last + 1):
            stats = latency.get(index, LatencyStats())
            out.append(BucketFigures(start=datetime.fromtimestamp(index * self.bucket_s, UTC),
                                     conversations=started.get(index, 0), answered=stats.count, p50_ms=stats.p50_ms,
                                     p95_ms=stats.p95_ms, breaches=stats.breaches, handoffs=handed.get(index, 0),
                                     failed_jobs=failed.get(index, 0)))
        return out


def _ms(value: Any) -> int | None:
    return None if value is None else round(float(value))


def _groups(started: Mapping[Any, int], latency: Stats, handed: Mapping[Any, int]) -> list[GroupFigures]:
    names = sorted({*started, *latency, *handed}, key=str)
    return [GroupFigures(name=str(name), conversations=started.get(name, 0),
                         answered=latency.get(name, LatencyStats()).count,
                         reply_latency=latency.get(name, LatencyStats()), handoffs=handed.get(name, 0))
            for name in names]



async def reply_latency_s(sessions: async_sessionmaker[AsyncSession], conversation_id: int,
                          message_id: str) -> float | None:
    """Seconds from this customer message's acceptance to its reply, once sent (for the latency histogram)."""
    async with sessions() as session:
        row = (await session.execute(
            select(InboundMessage.received_at, ReplyLedgerEntry.completed_at)
            .join(ReplyLedgerEntry, and_(ReplyLedgerEntry.conversation_id == InboundMessage.conversation_id,
                                         ReplyLedgerEntry.key == f"message:{message_id}"))
            .where(InboundMessage.conversation_id == conversation_id, InboundMessage.message_id == message_id,
                   ReplyLedgerEntry.state == "sent"))).first()
    if row is None or row.completed_at is None:
        return None
    return (row.completed_at - row.received_at).total_seconds()


async def recent_replies(sessions: async_sessionmaker[AsyncSession], *, since: datetime, now: datetime,
                         sla_ms: int) -> tuple[LatencyStats, int, int]:
    """For the alerts: reply latency, jobs finished and jobs failed since `since`."""
    async with sessions() as session:
        query = _Queries(session, since, now, max(1, int((now - since).total_seconds())), sla_ms)
        latency = (await query.stats(query.replies(literal("all")), sla_ms)).get("all", LatencyStats())
        finished = await query.counts(query.ledger(), ReplyLedgerEntry.completed_at, only=("all",))
        failed = await query.counts(query.ledger().where(ReplyLedgerEntry.note == JOB_FAILED),
                                    ReplyLedgerEntry.completed_at, only=("all",))
        return latency, finished["all"].get("all", 0), failed["all"].get("all", 0)


async def humans_awaited(sessions: async_sessionmaker[AsyncSession], *, since: datetime, now: datetime) -> HumanWait:
    """Handoffs since `since` still waiting for a human's first message (for the alerts)."""
    async with sessions() as session:
        return await _Queries(session, since, now, 3600, 0).human_wait()
