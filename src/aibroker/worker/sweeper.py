"""Queue again what Redis lost: greetings and accepted customer messages that have no finished reply.

Redis may restart without persistence, or refuse an enqueue while it is down (the HTTP caller got a
503, but the message was already recorded). A job may also have failed for good without its work getting
done (BullMQ fails a job that stalled too often; the apology-and-handoff after a final failure can fail in
turn while the inbox is down). Every few seconds each worker re-adds jobs for such work; adding an existing
job id is a no-op (a failed or completed one is replaced, see `BullJobQueue.enqueue`: the ledger says the work
is unfinished) and the reply ledger turns a spare job into "already answered", so sweeping is always safe, from
any number of workers at once.

Work younger than `GRACE` is normally left to the normal path, except right after Redis restarted (its
`run_id` changed): a Redis without persistence lost every queued job, so all outstanding work is queued
again at once instead of 15–20 s later (a job the API re-added meanwhile makes the add a no-op). A message
queued (or swept) less than `GRACE` ago is not looked at again either: with a backlog of thousands of messages
waiting their turn, checking every one of them every 5 s cost a worker more Redis commands than answering them
(bench.replypath: ~1,000 commands/s while idle on a paused queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from aibroker.adapters.db.store import SqlStore
from aibroker.domain.jobs import IncomingMessageJob, NewConversationJob
from aibroker.domain.ledger import greeting_key, message_key
from aibroker.domain.ports import JobQueue
from aibroker.domain.scoring import queue_priority
from aibroker.logging import get_logger
from aibroker.worker.periodic import every

log = get_logger(__name__)

SWEEP_EVERY_S = 5.0
CHECK_EVERY_S = 1.0  # how often the Redis run id is read (one INFO call)
GRACE = timedelta(seconds=15)  # younger work is probably still in the normal path
HORIZON = timedelta(hours=24)  # older work is left to humans rather than answered a day late


class Sweeper:
    def __init__(self, store: SqlStore, queue: JobQueue, redis: aioredis.Redis) -> None:
        self._store = store
        self._queue = queue
        self._redis = redis
        self._run_id: object = None  # the Redis server's run id when last read
        self._restarted = False  # seen a new run id, not yet swept for it
        self._last_sweep = -SWEEP_EVERY_S
        self.requeued = 0

    async def sweep(self, now: datetime | None = None, *, grace: timedelta = GRACE) -> int:
        now = now or datetime.now(UTC)
        added = 0
        for conversation_id, score in await self._store.ungreeted(created_before=now - grace,
                                                                   created_after=now - HORIZON):
            added += await self._queue.enqueue(NewConversationJob(conversation_id=conversation_id, lead_score=score),
                                               priority=queue_priority(score),
                                               unfinished=self._unfinished(conversation_id, greeting_key()))
        for conversation_id, message_id, score in await self._store.unanswered_inbound(
                received_before=now - grace, received_after=now - HORIZON, queued_before=now - grace):
            job = IncomingMessageJob(conversation_id=conversation_id, message_id=message_id, lead_score=score)
            if await self._queue.enqueue(job, priority=queue_priority(score),
                                         unfinished=self._unfinished(conversation_id, message_key(message_id))):
                added += 1
            await self._store.mark_queued(conversation_id, message_id)
        if added:
            self.requeued += added
            log.warning("sweeper queued %d job(s) that were missing from Redis or had failed", added)
        return added

    def _unfinished(self, conversation_id: int, key: str) -> Callable[[], Awaitable[bool]]:
        async def unfinished() -> bool:  # asked again once the job is seen completed (it may have just finished)
            return not await self._store.finished_keys(conversation_id, [key])

        return unfinished

    async def step(self) -> int:
        """One round: sweep at once if Redis restarted, else when `SWEEP_EVERY_S` has passed."""
        run_id = (await self._redis.info("server")).get("run_id")
        if self._run_id is not None and run_id != self._run_id:
            log.warning("Redis restarted (new run id): queueing outstanding work again at once")
            self._restarted = True
        self._run_id = run_id
        if not self._restarted and time.monotonic() - self._last_sweep < SWEEP_EVERY_S:
            return 0
        added = await self.sweep(grace=timedelta(0) if self._restarted else GRACE)
        self._restarted = False  # (kept when the sweep failed: the next round tries again)
        self._last_sweep = time.monotonic()
        return added

    async def run(self, stop: asyncio.Event) -> None:
        await every(CHECK_EVERY_S, self.step, stop, "sweep")
