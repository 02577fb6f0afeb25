"""Per-conversation mutual exclusion across worker processes, in Redis.

Only one job answers a conversation at a time, so replies never overtake each other and a burst of
messages is answered once. The lock has a short lease that a background task keeps extending while the
holder is alive; a SIGKILLed holder's lock simply expires, so its conversation is free again within
`lease_s` (in step with BullMQ's stalled-job recovery).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from aibroker.errors import DependencyUnavailable


class ConversationBusy(DependencyUnavailable):
    """Another worker kept the conversation longer than we were willing to wait (the job is retried)."""

    def __init__(self, conversation_id: int, waited_s: float) -> None:
        super().__init__("conversation lock", f"conversation {conversation_id} busy for {waited_s:.0f} s")


class RedisConversationLocks:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, lease_s: float = 10.0, wait_s: float = 60.0) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_s = lease_s
        self._wait_s = wait_s

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[None]:
        lock = Lock(self._redis, f"{self._prefix}:aibroker:lock:conversation:{conversation_id}",
                    timeout=self._lease_s, sleep=0.05, blocking_timeout=self._wait_s, thread_local=False)
        try:
            acquired = await lock.acquire()
        except RedisError as error:
            raise DependencyUnavailable("redis", f"conversation lock: {type(error).__name__}") from error
        if not acquired:
            raise ConversationBusy(conversation_id, self._wait_s)
        keeper = asyncio.create_task(self._keep_alive(lock))
        try:
            yield
        finally:
            keeper.cancel()
            with suppress(asyncio.CancelledError):
                await keeper
            with suppress(LockError, RedisError):
                await lock.release()

    async def _keep_alive(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            with suppress(LockError, RedisError):  # Redis blip: try again; the lease covers two misses
                await lock.extend(self._lease_s, replace_ttl=True)
