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
        self._asked: dict[str, datetime] = {}  # flag keys Redis answered for, and when

    async def check(self) -> int:
        """One round: returns how many events this worker published.

        A late message stays in `awaiting_reply` (up to 500 a round, every 0.25 s) until it is answered, which under a
        backlog is many rounds. Its flag for a level is asked of Redis once per process (`_asked`, forgotten with the
        look-back), the round's new flags in one pipeline, and the round's events are mirrored in one write."""
        now = self._clock()
        young = now - timedelta(milliseconds=self._target_ms * SLA_WARNING_SHARE)
        due: list[tuple[str, int, str, str, float]] = []  # (flag key, conversation, message, level, waited ms)
        for conversation_id, message_id, received_at in await self._store.awaiting_reply(
                received_after=now - LOOK_BACK, received_before=young):
            waited_ms = (now - received_at).total_seconds() * 1000
            level = sla_level(waited_ms, self._target_ms)
            key = f"{self._prefix}:aibroker:sla:{conversation_id}:{message_id}:{level}"
            if level is not None and key not in self._asked:
                due.append((key, conversation_id, message_id, level, waited_ms))
        self._forget(now)
        if not due:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, *_ in due:
                pipe.set(key, "1", nx=True, ex=int(LOOK_BACK.total_seconds()) * 2)
            firsts = await pipe.execute()
        self._asked.update((key, now) for key, *_ in due)  # (asked: set by us now, or by another worker before)
        published = 0
        async with self._events.gathered():
            for (_, conversation_id, message_id, level, waited_ms), first in zip(due, firsts, strict=True):
                if first:
                    await self._events.publish(conversation_id, "sla", {
                        "level": level, "message_id": message_id, "waited_ms": int(waited_ms),
                        "target_ms": self._target_ms})
                    published += 1
        return published

    def _forget(self, now: datetime) -> None:
        """Flags asked about longer ago than the look-back: their messages are out of the rounds' reach."""
        if self._asked and now - min(self._asked.values()) > LOOK_BACK:
            self._asked = {key: at for key, at in self._asked.items() if now - at <= LOOK_BACK}

    async def run(self, stop: asyncio.Event) -> None:
        await every(CHECK_EVERY_S, self.check, stop, "sla check")
