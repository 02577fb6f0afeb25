"""The reply-SLA clock for the live UIs: an `sla` event when a customer message has waited 80 % of REPLY_SLA_MS
for its reply (warning, 4 s of 5 s) and when it has waited all of it (violation).

Every worker runs it; it reads the accepted-but-unanswered messages from the database (the API that accepted a
message may be another process), and a Redis SET NX per message and level makes each event go out once, however
many workers see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import redis.asyncio as aioredis

from aibroker.adapters.db.store import SqlStore
from aibroker.domain.live_events import SLA_WARNING_SHARE, sla_level
from aibroker.domain.ports import EventPublisher
from aibroker.worker.periodic import every

CHECK_EVERY_S = 0.25
LOOK_BACK = timedelta(minutes=2)  # older waits were reported already (or belong to the sweeper)


class SlaWatch:
    def __init__(self, store: SqlStore, events: EventPublisher, redis: aioredis.Redis, prefix: str, *,
                 target_ms: int, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._events = events
        self._redis = redis
        self._prefix = prefix
        self._target_ms = target_ms
        self._clock = clock

    async def check(self) -> int:
        """One round: returns how many events this worker published."""
        now = self._clock()
        published = 0
        young = now - timedelta(milliseconds=self._target_ms * SLA_WARNING_SHARE)
        for conversation_id, message_id, received_at in await self._store.awaiting_reply(
                received_after=now - LOOK_BACK, received_before=young):
            waited_ms = (now - received_at).total_seconds() * 1000
            level = sla_level(waited_ms, self._target_ms)
            if level is None:
                continue
            key = f"{self._prefix}:aibroker:sla:{conversation_id}:{message_id}:{level}"
            if await self._redis.set(key, "1", nx=True, ex=int(LOOK_BACK.total_seconds()) * 2):
                await self._events.publish(conversation_id, "sla", {
                    "level": level, "message_id": message_id, "waited_ms": int(waited_ms),
                    "target_ms": self._target_ms})
                published += 1
        return published

    async def run(self, stop: asyncio.Event) -> None:
        await every(CHECK_EVERY_S, self.check, stop, "sla check")
