"""The sweeper queues again what Redis lost. Normally it leaves work younger than its grace period to the
normal path; right after a Redis restart (a new run id) it queues all outstanding work at once, since a Redis
without persistence lost every job. Runs on a private redis-server it can kill, and on both databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.config import Settings
from aibroker.errors import DependencyUnavailable
from aibroker.worker.sweeper import Sweeper
from tests.support.chaos_processes import PrivateRedis


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


async def _outstanding(queue: BullJobQueue) -> int:
    counts = await queue.counts()
    return counts["waiting"] + counts["prioritized"] + counts["delayed"]


async def test_after_a_redis_restart_outstanding_work_is_queued_at_once(engine: AsyncEngine,
                                                                        private_redis: PrivateRedis) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await store.create_conversation(
        inbox="builtin", inbox_conversation_id="1", inbox_contact_id="c1", loan_type="refinance",
        lead={"name": "Ann"}, lead_score=50, persona_name="Sarah Wong", broker_id=None)
    greeting = await store.claim_reply(conversation.id, "greeting")  # greeted: only the message is outstanding
    await store.complete_reply(conversation.id, "greeting", greeting.token, sent_message_id="1")
    assert await store.record_inbound(conversation.id, "m1")  # accepted just now, its job not (yet) queued

    settings = Settings(_env_file=None, QUEUE_PREFIX="sweep", QUEUE_NAME="aibroker")  # type: ignore[call-arg]
    queue = BullJobQueue(settings, private_redis.url)
    redis = redis_client(private_redis.url)
    sweeper = Sweeper(store, queue, redis)
    try:
        assert await sweeper.step() == 0  # young work is left to the normal path
        assert await sweeper.step() == 0 and await _outstanding(queue) == 0

        private_redis.restart(0.2)
        # As `Sweeper.run` does: a round that fails (the queue's connections still reconnecting) is tried again
        # a moment later. All of it stays well inside the 15 s grace period, so only the restart explains it.
        added, deadline = None, time.monotonic() + 8
        while added is None and time.monotonic() < deadline:
            try:
                added = await sweeper.step()
            except DependencyUnavailable:
                await asyncio.sleep(0.2)
        assert added == 1 and await _outstanding(queue) == 1
        assert await sweeper.step() == 0  # once
    finally:
        await queue.aclose()
        await redis.aclose()


async def test_work_queued_within_the_grace_period_is_not_looked_at_again(engine: AsyncEngine) -> None:
    """With a backlog, the sweeper must not check every waiting message's job every round: a message queued (or
    swept) less than the grace period ago is left out; one never marked queued is a candidate."""
    store = SqlStore(session_factory(engine))
    conversation = await store.create_conversation(
        inbox="builtin", inbox_conversation_id="1", inbox_contact_id="c1", loan_type="refinance",
        lead={"name": "Ann"}, lead_score=50, persona_name="Sarah Wong", broker_id=None)
    assert await store.record_inbound(conversation.id, "m1")
    later = datetime.now(UTC) + timedelta(seconds=30)  # the message is past any grace period by then
    window = {"received_before": later, "received_after": later - timedelta(hours=1)}

    async def candidates(queued_before: datetime) -> list[str]:
        return [m for _, m, _ in await store.unanswered_inbound(**window, queued_before=queued_before)]

    assert await candidates(queued_before=later) == ["m1"]  # never queued
    await store.mark_queued(conversation.id, "m1")
    assert await candidates(queued_before=datetime.now(UTC) - timedelta(seconds=1)) == []  # queued just now
    assert await candidates(queued_before=datetime.now(UTC) + timedelta(seconds=1)) == ["m1"]
