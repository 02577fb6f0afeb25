"""The reply-SLA clock (worker/sla_watch.py) on the real database and Redis: a warning at 80 % of REPLY_SLA_MS, a
violation at 100 %, each once however many workers watch, nothing for answered messages or human-owned ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.realtime.events import RedisEventBus
from aibroker.config import Settings
from aibroker.domain.conversation import Owner
from aibroker.domain.ledger import message_key
from aibroker.worker.sla_watch import SlaWatch


@pytest.fixture
async def parts(make_settings, e2e_db_url: str) -> AsyncIterator[tuple[Settings, SqlStore, RedisEventBus]]:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(e2e_db_url)
    engine = create_engine(settings.sqlalchemy_url)
    redis = redis_client(settings.redis_url or "")
    store = SqlStore(session_factory(engine))
    yield settings, store, RedisEventBus(redis, store, settings.queue_prefix)
    await redis.aclose()
    await engine.dispose()


async def _conversation(store: SqlStore, n: int) -> int:
    record = await store.create_conversation(
        inbox="builtin", inbox_conversation_id=str(n), inbox_contact_id=str(n), loan_type="new_purchase", lead={},
        lead_score=50, persona_name="Sarah Wong", broker_id=None)
    return record.id


async def test_warning_then_violation_once_each(parts: tuple[Settings, SqlStore, RedisEventBus]) -> None:
    settings, store, bus = parts
    waiting, answered, human = [await _conversation(store, n) for n in (1, 2, 3)]
    # Received at `start` exactly: the watcher's clock is then the only clock (the set-up below may take a while
    # on a busy machine).
    start = datetime.now().astimezone()
    for conversation_id in (waiting, answered, human):
        await store.record_inbound(conversation_id, f"m{conversation_id}", received_at=start)
    claim = await store.claim_reply(answered, message_key(f"m{answered}"))
    await store.complete_reply(answered, message_key(f"m{answered}"), claim.token, sent_message_id="r1")
    await store.set_ownership(human, owner=Owner.HUMAN)
    now = start

    def watch() -> SlaWatch:  # a fresh watcher each time: as if another worker process looked
        return SlaWatch(store, bus, bus._redis, settings.queue_prefix, target_ms=5000, clock=lambda: now)

    assert await watch().check() == 0  # 0 s: nothing yet
    now = start + timedelta(milliseconds=3500)
    assert await watch().check() == 0  # 3.5 s: under 80 %
    now = start + timedelta(milliseconds=4200)
    assert await watch().check() == 1 and await watch().check() == 0  # 4.2 s: one warning, once
    now = start + timedelta(milliseconds=5300)
    assert await watch().check() == 1 and await watch().check() == 0  # 5.3 s: one violation, once
    events = [body for _, body in await bus.entries_after(waiting, None) if body["type"] == "sla"]
    assert [(e["level"], e["message_id"], e["target_ms"]) for e in events] == [
        ("warning", f"m{waiting}", 5000), ("violation", f"m{waiting}", 5000)]
    assert 4000 <= events[0]["waited_ms"] < 5000 <= events[1]["waited_ms"]
    for other in (answered, human):
        assert await bus.entries_after(other, None) == []
    assert await store.count_events("sla") == 2  # kept for analytics


async def test_a_watcher_asks_redis_about_a_flag_once_and_mirrors_a_rounds_events_in_one_write(
        parts: tuple[Settings, SqlStore, RedisEventBus]) -> None:
    """Under a backlog a late message is in every round until it is answered: the same watcher does not ask Redis
    about its flag again (the flag deleted behind its back is not set again by it; a fresh watcher would), and the
    round's events are written to the analytics mirror together."""
    settings, store, bus = parts
    late = [await _conversation(store, n) for n in range(10, 15)]
    start = datetime.now().astimezone()
    for conversation_id in late:
        await store.record_inbound(conversation_id, f"m{conversation_id}", received_at=start)
    now = start + timedelta(milliseconds=4200)
    watcher = SlaWatch(store, bus, bus._redis, settings.queue_prefix, target_ms=5000, clock=lambda: now)
    inserts: list[str] = []

    @event.listens_for(store.sessions.kw["bind"].sync_engine, "before_cursor_execute")
    def _count(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO chat_events"):
            inserts.append(statement)

    assert await watcher.check() == 5
    assert len(inserts) == 1 and await store.count_events("sla") == 5
    flags = [f"{settings.queue_prefix}:aibroker:sla:{c}:m{c}:warning" for c in late]
    assert await bus._redis.delete(*flags) == 5
    assert await watcher.check() == 0  # remembered: Redis not asked again
    assert await bus._redis.exists(*flags) == 0
    fresh = SlaWatch(store, bus, bus._redis, settings.queue_prefix, target_ms=5000, clock=lambda: now)
    assert await fresh.check() == 5  # (what the deleted flags would have let through)
    now = start + timedelta(milliseconds=5300)
    assert await watcher.check() == 5  # the next level is a new flag
