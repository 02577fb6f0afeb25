"""The analytics report (domain/analytics.py) in SQL, on PostgreSQL and SQLite alike.

Every figure is an aggregate computed by the database over an indexed window (covering indexes on the replies
finished and their messages' arrival, `conversations.created_at`, `chat_events(type, created_at)`: migration
0006_ops); only the grouped results travel to Python. Each table is read once for all the groupings (all, persona,
broker, time bucket): its rows are materialized in a CTE and fanned out with UNION ALL. Percentiles:
`percentile_disc` on PostgreSQL; on SQLite, which has no ordered-set aggregates, window ranks (`row_number` over
the sorted values) picking the same nearest-rank value. bench/analytics.py times the report at a million events.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, Select, String, and_, case, cast, false, func, literal, or_, select, union_all
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
Counted = Mapping[Any, tuple[int, int]]


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
    def keyed(self, base: Select[Any], at: Any, *values: ColumnElement[Any]) -> Select[Any]:
        """`base` (joined to the conversation and its broker) as rows of (persona, broker, bucket, *values)."""
        return base.with_only_columns(Conversation.persona_name.label("persona"),
                                      func.coalesce(Broker.name, NO_BROKER).label("broker"),
                                      self.bucket(at).label("bucket"), *values)

    @staticmethod
    def fanned(rows: Select[Any]) -> Any:
        """Each row of `rows` once per grouping, as (kind, g, v…): one pass over the tables for every grouping.
        The rows are materialized once (a CTE), not joined again per grouping."""
        r = rows.cte("r").prefix_with("MATERIALIZED")
        extra = [column for column in r.c if column.name not in ("persona", "broker", "bucket")]
        return union_all(
            select(literal("all").label("kind"), literal("all").label("g"), *extra).select_from(r),
            select(literal("persona"), r.c.persona, *extra).select_from(r),
            select(literal("broker"), r.c.broker, *extra).select_from(r),
            select(literal("bucket"), cast(r.c.bucket, String), *extra).select_from(r)).subquery()

    async def tally(self, rows: Select[Any]) -> dict[str, dict[Any, tuple[int, int]]]:
        """(rows, sum of `x`) per grouping of `rows` (persona, broker, bucket, x)."""
        sub = self.fanned(rows)
        statement = select(sub.c.kind, sub.c.g, func.count(), func.sum(sub.c.x)).group_by(sub.c.kind, sub.c.g)
        out: dict[str, dict[Any, tuple[int, int]]] = {"all": {}, "persona": {}, "broker": {}, "bucket": {}}
        for kind, g, n, x in await self.session.execute(statement):
            out[kind][_key(kind, g)] = (int(n), int(x or 0))
        return out

    async def stats(self, values: Any, breach_ms: float | None) -> dict[str, Stats]:
        """Count, percentiles, max and SLA breaches of `values` (a subquery of `kind`, `g`, `v`) per (kind, g)."""
        sub = values
        groups = (sub.c.kind, sub.c.g)
        if self.postgres:
            ranks: list[Any] = [func.percentile_disc(p).within_group(sub.c.v) for p in PERCENTILES]
            v = sub.c.v
            source = sub
        else:
            source = select(sub.c.kind, sub.c.g, sub.c.v,
                            func.row_number().over(partition_by=groups, order_by=sub.c.v).label("rn"),
                            # The same window (whole partition as frame): SQLite sorts the rows once, not twice.
                            func.count().over(partition_by=groups, order_by=sub.c.v, rows=(None, None)).label("n"),
                            ).subquery()
            v = source.c.v
            # Nearest rank in whole percents, so no floating-point rounding moves a rank: rn·100 ≥ p·100·n.
            ranks = [func.min(case((source.c.rn * 100 >= round(p * 100) * source.c.n, v))) for p in PERCENTILES]
        breaches = func.sum(case((v > breach_ms, 1), else_=0)) if breach_ms is not None else literal(0)
        statement = (select(source.c.kind, source.c.g, func.count(), *ranks, func.max(v), breaches)
                     .group_by(source.c.kind, source.c.g))
        out: dict[str, Stats] = {"all": {}, "persona": {}, "broker": {}, "bucket": {}}
        for kind, g, n, p50, p95, p99, top, over in await self.session.execute(statement):
            count, over = int(n), int(over or 0)
            out[kind][_key(kind, g)] = LatencyStats(
                count=count, p50_ms=_ms(p50), p95_ms=_ms(p95), p99_ms=_ms(p99), max_ms=_ms(top), breaches=over,
                breach_share=share(over, count) if breach_ms is not None else None)
        return out

    @staticmethod
    def only(values: Select[Any]) -> Any:
        """Values (column `v`) as the single group ("all", "all")."""
        sub = values.subquery()
        return select(literal("all").label("kind"), literal("all").label("g"), sub.c.v).subquery()

    # --- the figures ---------------------------------------------------------------------------------------
    def conversations(self) -> Select[Any]:
        return (select(Conversation.id).outerjoin(Broker, Broker.id == Conversation.broker_id)
                .where(self.in_window(Conversation.created_at), Conversation.is_test.is_(false())))

    def ledger(self) -> Select[Any]:
        return (select(ReplyLedgerEntry.id)
                .join(Conversation, Conversation.id == ReplyLedgerEntry.conversation_id)
                .outerjoin(Broker, Broker.id == Conversation.broker_id)
                .where(self.in_window(ReplyLedgerEntry.completed_at), Conversation.is_test.is_(false())))

    def not_test(self, conversation_id: Any) -> ColumnElement[bool]:
        """Not a smoke test's, without joining every row to its conversation (smoke tests are few)."""
        return conversation_id.not_in(select(Conversation.id).where(Conversation.is_test.is_(True)))

    async def jobs_by_bucket(self) -> dict[int, tuple[int, int]]:
        """Reply and greeting jobs finished, and of those failed, per bucket (the totals are their sums)."""
        bucket = self.bucket(ReplyLedgerEntry.completed_at)
        statement = (select(bucket, func.count(), func.sum(case((ReplyLedgerEntry.note == JOB_FAILED, 1), else_=0)))
                     .where(self.in_window(ReplyLedgerEntry.completed_at),
                            self.not_test(ReplyLedgerEntry.conversation_id))
                     .group_by(bucket))
        return {int(b): (int(n), int(failed or 0)) for b, n, failed in await self.session.execute(statement)}

    def replies(self) -> Select[Any]:
        """(persona, broker, bucket, latency ms) of every customer message answered in the window."""
        inbound = and_(InboundMessage.conversation_id == ReplyLedgerEntry.conversation_id,
                       InboundMessage.message_id == func.substr(ReplyLedgerEntry.key, len("message:") + 1))
        answered = (self.ledger().join(InboundMessage, inbound)
                    .where(ReplyLedgerEntry.state == "sent", ReplyLedgerEntry.key.like("message:%"),
                           or_(ReplyLedgerEntry.note.is_(None), ReplyLedgerEntry.note != JOB_FAILED)))
        return self.keyed(answered, ReplyLedgerEntry.completed_at,
                          self.millis(ReplyLedgerEntry.completed_at, InboundMessage.received_at).label("v"))

    def handoffs(self) -> Select[Any]:
        return (select(ChatEvent.id).join(Conversation, Conversation.id == ChatEvent.conversation_id)
                .outerjoin(Broker, Broker.id == Conversation.broker_id)
                .where(ChatEvent.type.in_(HANDOFF_EVENTS), self.in_window(ChatEvent.created_at),
                       Conversation.is_test.is_(false())))

    async def report(self, window: Window) -> AnalyticsReport:
        latency = await self.stats(self.fanned(self.replies()), self.sla_ms)
        greeting_values = (self.ledger().where(ReplyLedgerEntry.key == "greeting", ReplyLedgerEntry.state == "sent",
                                               ReplyLedgerEntry.note.is_(None))
                           .with_only_columns(self.millis(ReplyLedgerEntry.completed_at, Conversation.created_at)
                                              .label("v")))
        greeting = (await self.stats(self.only(greeting_values), self.sla_ms))["all"].get("all", LatencyStats())
        one = literal(0).label("x")
        started = await self.tally(self.keyed(self.conversations(), Conversation.created_at, one))
        handed = await self.tally(self.keyed(self.handoffs(), ChatEvent.created_at, one))
        jobs_by = await self.jobs_by_bucket()
        reason = case((ChatEvent.type == "owner:human", AGENT_REPLIED), else_=ChatEvent.payload["reason"].as_string())
        by_reason = {str(row.g): int(row.n) for row in await self.session.execute(
            self.handoffs().with_only_columns(reason.label("g"), func.count().label("n")).group_by(reason))}

        conversations, handoffs = _n(started["all"], "all"), _n(handed["all"], "all")
        jobs, failures = sum(n for n, _ in jobs_by.values()), sum(failed for _, failed in jobs_by.values())
        reply = latency["all"].get("all", LatencyStats())
        return AnalyticsReport(
            window=window, since=self.since, until=self.until, bucket_s=self.bucket_s, sla_ms=self.sla_ms,
            conversations_started=conversations, messages_answered=reply.count, reply_latency=reply,
            greeting_latency=greeting, handoffs=handoffs, handoffs_by_reason=by_reason,
            handoff_rate=share(handoffs, conversations), jobs_finished=jobs, failed_jobs=failures,
            failure_rate=share(failures, jobs), waiting_for_human=await self.human_wait(),
            per_persona=_groups(started["persona"], latency["persona"], handed["persona"]),
            per_broker=_groups(started["broker"], latency["broker"], handed["broker"]),
            series=self.series(started["bucket"], latency["bucket"], handed["bucket"],
                               {k: failed for k, (_, failed) in jobs_by.items()}))

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
        answered = (select(self.millis(waits.c.answered_at, waits.c.at).label("v"))
                    .where(waits.c.answered_at.is_not(None)))
        wait = (await self.stats(self.only(answered), None))["all"].get("all", LatencyStats())
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

    def series(self, started: Counted, latency: Stats, handed: Counted,
               failed: Mapping[Any, int]) -> list[BucketFigures]:
        first = int(self.since.timestamp()) // self.bucket_s
        last = (int(self.until.timestamp()) - 1) // self.bucket_s
        out = []
        for index in range(first, last + 1):
            stats = latency.get(index, LatencyStats())
            out.append(BucketFigures(start=datetime.fromtimestamp(index * self.bucket_s, UTC),
                                     conversations=_n(started, index), answered=stats.count, p50_ms=stats.p50_ms,
                                     p95_ms=stats.p95_ms, breaches=stats.breaches, handoffs=_n(handed, index),
                                     failed_jobs=failed.get(index, 0)))
        return out


def _ms(value: Any) -> int | None:
    return None if value is None else round(float(value))


def _groups(started: Counted, latency: Stats, handed: Counted) -> list[GroupFigures]:
    names = sorted({*started, *latency, *handed}, key=str)
    return [GroupFigures(name=str(name), conversations=_n(started, name),
                         answered=latency.get(name, LatencyStats()).count,
                         reply_latency=latency.get(name, LatencyStats()), handoffs=_n(handed, name))
            for name in names]


def _n(counted: Counted, key: Any) -> int:
    return counted.get(key, (0, 0))[0]


def _key(kind: str, g: Any) -> Any:
    """Bucket keys travel as text through the fanned-out union; they are bucket numbers."""
    return int(g) if kind == "bucket" else g


async def recent_replies(sessions: async_sessionmaker[AsyncSession], *, since: datetime, now: datetime,
                         sla_ms: int) -> tuple[LatencyStats, int, int]:
    """For the alerts: reply latency, jobs finished and jobs failed since `since`."""
    async with sessions() as session:
        query = _Queries(session, since, now, max(1, int((now - since).total_seconds())), sla_ms)
        latency = (await query.stats(query.only(query.replies()), sla_ms))["all"].get("all", LatencyStats())
        jobs = (await query.jobs_by_bucket()).values()
        return latency, sum(n for n, _ in jobs), sum(failed for _, failed in jobs)


async def humans_awaited(sessions: async_sessionmaker[AsyncSession], *, since: datetime, now: datetime) -> HumanWait:
    """Handoffs since `since` still waiting for a human's first message (for the alerts)."""
    async with sessions() as session:
        return await _Queries(session, since, now, 3600, 0).human_wait()
