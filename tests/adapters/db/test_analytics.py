"""The analytics report on SQLite and PostgreSQL (`db_url` runs both): the same rows give the same figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.analytics import SqlAnalytics
from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.models import Broker, ChatEvent, Conversation, InboundMessage, ReplyLedgerEntry
from aibroker.domain.analytics import Window

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _conversation(cid: int, persona: str, broker: int | None, age_min: float, **extra: object) -> Conversation:
    return Conversation(id=cid, inbox="builtin", inbox_conversation_id=str(cid), inbox_contact_id=str(cid),
                        loan_type="new_purchase", lead={}, lead_score=50, persona_name=persona, broker_id=broker,
                        created_at=NOW - timedelta(minutes=age_min), last_activity_at=NOW, **extra)


def _answered(cid: int, message: str, received: datetime, latency_ms: int, note: str | None = None) -> list[object]:
    return [InboundMessage(conversation_id=cid, message_id=message, received_at=received),
            ReplyLedgerEntry(conversation_id=cid, key=f"message:{message}", state="sent", claim_token="t",
                             claimed_at=received, completed_at=received + timedelta(milliseconds=latency_ms),
                             sent_message_id=f"r{message}", note=note)]


def _greeting(conversation: Conversation, latency_ms: int) -> ReplyLedgerEntry:
    return ReplyLedgerEntry(conversation_id=conversation.id, key="greeting", state="sent", claim_token="t",
                            claimed_at=conversation.created_at, sent_message_id="g",
                            completed_at=conversation.created_at + timedelta(milliseconds=latency_ms))


def _event(cid: int, kind: str, age_min: float, **payload: object) -> ChatEvent:
    return ChatEvent(conversation_id=cid, type=kind, payload=payload, created_at=NOW - timedelta(minutes=age_min))


async def _seed(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        brokers = {b.name: b.id for b in (await session.execute(Broker.__table__.select())).all()}
        sarah = _conversation(1, "Sarah Wong", brokers["Sarah Wong"], 30)
        grace = _conversation(2, "Grace Lim", brokers["Grace Lim"], 20)
        smoke = _conversation(3, "Grace Lim", brokers["Grace Lim"], 10, is_test=True)
        old = _conversation(4, "Sarah Wong", brokers["Sarah Wong"], 120)
        waiting = _conversation(5, "Rachel Tan", None, 40, owner="human", status="open")
        session.add_all([sarah, grace, smoke, old, waiting])
        await session.flush()
        rows: list[object] = [_greeting(sarah, 1500), _greeting(grace, 2500), _greeting(smoke, 90_000)]
        for i in range(10):  # 1 s … 10 s
            rows += _answered(1, f"a{i}", NOW - timedelta(minutes=25 - i), 1000 * (i + 1))
        rows += _answered(1, "failed", NOW - timedelta(minutes=14), 9000, note="job_failed")
        rows += _answered(2, "b0", NOW - timedelta(minutes=18), 3000)
        rows += _answered(3, "s0", NOW - timedelta(minutes=9), 60_000)  # a smoke test: left out
        rows += _answered(4, "o0", NOW - timedelta(minutes=119), 20_000)  # outside the hour
        rows += [_event(2, "handoff", 15, reason="explicit_request"), _event(2, "message:human", 12),
                 _event(1, "owner:human", 5, by="agent reply"), _event(5, "handoff", 35, reason="frustration"),
                 _event(3, "handoff", 8, reason="explicit_request"), _event(4, "handoff", 110, reason="compliance")]
        session.add_all(rows)


async def test_report_figures_are_computed_in_sql_and_leave_smoke_tests_out(engine: AsyncEngine) -> None:
    await _seed(engine)
    analytics = SqlAnalytics(session_factory(engine))
    hour = await analytics.report(Window.HOUR, now=NOW, sla_ms=5000)

    assert hour.conversations_started == 3  # Sarah's, Grace's and the waiting one; not the smoke test's
    assert hour.messages_answered == 11
    # Nearest rank over 1,2,3,3,4,…,10 s: P50 is the 6th value, P95 and P99 the 11th.
    assert (hour.reply_latency.p50_ms, hour.reply_latency.p95_ms, hour.reply_latency.p99_ms) == (5000, 10000, 10000)
    assert hour.reply_latency.max_ms == 10000
    assert hour.reply_latency.breaches == 5 and hour.reply_latency.breach_share == round(5 / 11, 4)
    assert (hour.greeting_latency.count, hour.greeting_latency.p50_ms, hour.greeting_latency.p95_ms) == (2, 1500, 2500)
    assert hour.handoffs_by_reason == {"explicit_request": 1, "agent_replied": 1, "frustration": 1}
    assert hour.handoffs == 3 and hour.handoff_rate == 1.0
    assert (hour.jobs_finished, hour.failed_jobs, hour.failure_rate) == (14, 1, round(1 / 14, 4))

    wait = hour.waiting_for_human
    assert (wait.handed_off, wait.answered, wait.wait.p50_ms) == (2, 1, 180_000)
    assert (wait.still_waiting, wait.longest_waiting_ms) == (1, 35 * 60_000)

    sarah = next(g for g in hour.per_persona if g.name == "Sarah Wong")
    assert (sarah.conversations, sarah.answered, sarah.handoffs, sarah.reply_latency.p95_ms) == (1, 10, 1, 10000)
    assert {g.name for g in hour.per_broker} == {"Sarah Wong", "Grace Lim", "(no broker)"}

    assert len(hour.series) == 12 and hour.series[0].start == NOW - timedelta(hours=1)
    assert sum(b.conversations for b in hour.series) == 3 and sum(b.answered for b in hour.series) == 11
    assert sum(b.failed_jobs for b in hour.series) == 1 and sum(b.handoffs for b in hour.series) == 3
    slowest = max(hour.series, key=lambda b: b.p95_ms or 0)
    assert slowest.start == datetime(2026, 12, 3, 11, 40, tzinfo=UTC) and slowest.p95_ms == 10000

    day = await analytics.report(Window.DAY, now=NOW, sla_ms=5000)
    assert day.conversations_started == 4 and day.messages_answered == 12 and day.reply_latency.max_ms == 20000
    assert day.handoffs_by_reason["compliance"] == 1 and len(day.series) == 24
